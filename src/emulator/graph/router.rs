//! Request pipeline (auth → throttling → faults → handler) and the Graph routes.
//!
//! Paths are matched case-insensitively on their fixed segments, as Graph does; ids keep their
//! case (they are case-sensitive). Mailbox routes check the app's roles first, then the user, the
//! mailbox and the application access policy, in Graph's order of answers.

use std::{future::Future, pin::Pin, sync::Arc};

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::{
    Shared, auth, batch,
    delta::{self, Scope},
    http::{Req, Resp, err, with_context},
    odata,
    render::{self, View},
    store::{self, Item, ItemKind, Store, TokenInfo, instance_on, instances},
    throttle::{Admission, RetryAfter},
};

const COLLECTIONS: [&str; 15] = [
    "subscriptions",
    "users",
    "mailfolders",
    "childfolders",
    "messages",
    "events",
    "calendars",
    "contactfolders",
    "contacts",
    "lists",
    "tasks",
    "linkedresources",
    "instances",
    "calendarview",
    "extensions",
];

/// `GET /users/{id}/mailFolders/{id}/messages/delta`-style label for counters.
pub fn endpoint_label(method: &str, segments: &[String]) -> String {
    let mut out = String::new();
    let mut prev_collection = false;
    for s in segments {
        let lower = s.to_ascii_lowercase();
        let keyword = COLLECTIONS.contains(&lower.as_str())
            || matches!(
                lower.as_str(),
                "delta"
                    | "mailboxsettings"
                    | "todo"
                    | "calendar"
                    | "$batch"
                    | "timezone"
                    | "cancel"
                    | "accept"
                    | "decline"
                    | "tentativelyaccept"
                    | "move"
                    | "sendmail"
            )
            || lower.starts_with('$');
        out.push('/');
        if prev_collection && !keyword {
            out.push_str("{id}");
        } else {
            out.push_str(s);
        }
        prev_collection = COLLECTIONS.contains(&lower.as_str());
    }
    format!("{method} {out}")
}

/// A 429/503/504 fault response with the chosen `Retry-After` variant.
pub fn fault_response(status: u16, retry: RetryAfter) -> Resp {
    let mut r = match status {
        429 => Resp::json(
            429,
            json!({"error": {"code": "TooManyRequests", "innerError": {"code": "429", "message": "Please retry after", "status": "429"}, "message": "Please retry again later."}}),
        ),
        503 => Resp::error(
            503,
            "serviceNotAvailable",
            "The service is temporarily unavailable. Please retry later.",
        ),
        504 => Resp::error(
            504,
            "UnknownError",
            "The gateway did not receive a timely response from the mailbox server.",
        ),
        500 => Resp::error(
            500,
            "generalException",
            "An unspecified error has occurred.",
        ),
        502 => Resp::error(502, "UnknownError", "Bad gateway."),
        other => Resp::error(other, "UnknownError", "Injected fault."),
    };
    if let Some(h) = retry.header() {
        r = r.with_header("Retry-After", h);
    }
    r
}

/// The pipeline for one Graph request (top-level or a `$batch` item).
pub fn graph(
    shared: Arc<Shared>,
    req: Req,
    in_batch: bool,
) -> Pin<Box<dyn Future<Output = Resp> + Send>> {
    Box::pin(async move {
        let now = shared.clock.now();
        let label = endpoint_label(&req.method, &req.segments);
        {
            let mut t = super::lock(&shared.throttle);
            t.counters.requests += 1;
            *t.counters.per_endpoint.entry(label).or_insert(0) += 1;
        }
        let token = {
            let store = super::lock(&shared.store);
            auth::authenticate(&store, &req, now)
        };
        let token = match token {
            Ok(t) => t,
            Err(r) => return count_status(&shared, r),
        };
        if req
            .segments
            .first()
            .is_some_and(|s| s.eq_ignore_ascii_case("$batch"))
        {
            if in_batch {
                return count_status(
                    &shared,
                    err::bad_request("A $batch request cannot contain another $batch request."),
                );
            }
            let r = batch::run(shared.clone(), &req).await;
            return count_status(&shared, r);
        }
        if req
            .segments
            .first()
            .is_some_and(|s| s.eq_ignore_ascii_case("subscriptions"))
        {
            let r = super::subscriptions::handle(&shared, &req, &token).await;
            return count_status(&shared, r);
        }
        if req
            .segments
            .first()
            .is_some_and(|s| s.eq_ignore_ascii_case("me"))
        {
            return count_status(
                &shared,
                err::bad_request("/me request is only valid with delegated authentication flow."),
            );
        }
        // Mailbox-scoped requests are throttled per app × mailbox.
        let mailbox = if req.segments.len() >= 3 && req.segments[0].eq_ignore_ascii_case("users") {
            let store = super::lock(&shared.store);
            store
                .user_index(&req.segments[1])
                .map(|ui| (ui, store.users[ui].upn.to_lowercase()))
        } else {
            None
        };
        let mut _in_flight = None;
        if let Some((ui, name)) = &mailbox {
            let mut t = super::lock(&shared.throttle);
            *t.counters.per_mailbox.entry(name.clone()).or_insert(0) += 1;
            let key = (token.app, *ui);
            match t.admit(key, name, now.as_second()) {
                Admission::Admitted => {
                    _in_flight = Some(InFlight {
                        shared: shared.clone(),
                        key,
                    })
                }
                Admission::Concurrency => {
                    t.counters.concurrency_429 += 1;
                    t.counters.throttled_429 += 1;
                    let retry = t.settings.concurrency_retry_after;
                    drop(t);
                    let mut r = Resp::error(
                        429,
                        "ApplicationThrottled",
                        "Application is over its MailboxConcurrency limit.",
                    );
                    if let Some(h) = retry.header() {
                        r = r.with_header("Retry-After", h);
                    }
                    return count_status(&shared, r);
                }
                Admission::Budget { retry_after_secs } => {
                    t.counters.budget_429 += 1;
                    t.counters.throttled_429 += 1;
                    drop(t);
                    let r = Resp::error(
                        429,
                        "ApplicationThrottled",
                        "Application is over its MailboxRequestsPerTenMinutes limit.",
                    )
                    .with_header("Retry-After", retry_after_secs.to_string());
                    return count_status(&shared, r);
                }
            }
        }
        // Released on drop, also when the client goes away while the request is held.
        let resp = handle_admitted(&shared, &req, &token, in_batch).await;
        if req.method != "GET" {
            shared.changed.notify_one();
        }
        count_status(&shared, resp)
    })
}

/// An admitted request of (app, mailbox); leaving the scope (or being cancelled) releases it.
struct InFlight {
    shared: Arc<Shared>,
    key: (usize, usize),
}

impl Drop for InFlight {
    fn drop(&mut self) {
        super::lock(&self.shared.throttle).release(self.key);
    }
}

async fn handle_admitted(
    shared: &Arc<Shared>,
    req: &Req,
    token: &TokenInfo,
    in_batch: bool,
) -> Resp {
    let (fault, latency) = {
        let mut t = super::lock(&shared.throttle);
        let draw = if !in_batch || t.faults.include_batch_items {
            t.draw_fault()
        } else {
            None
        };
        (draw, t.faults.latency)
    };
    let mut gate = shared.gate.subscribe();
    let _ = gate.wait_for(|open| *open).await;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if let Some((status, retry)) = fault {
        if status == 429 {
            super::lock(&shared.throttle).counters.throttled_429 += 1;
        }
        return fault_response(status, retry);
    }
    let now = shared.clock.now();
    let mut store = super::lock(&shared.store);
    handle(&mut store, shared, req, token, now)
}

fn count_status(shared: &Shared, r: Resp) -> Resp {
    let mut t = super::lock(&shared.throttle);
    *t.counters.statuses.entry(r.status).or_insert(0) += 1;
    r
}

#[derive(Clone, Copy, PartialEq)]
enum Family {
    Directory,
    MailboxSettings,
    Mail,
    Calendar,
    Contacts,
    Tasks,
}

fn has_role(token: &TokenInfo, family: Family, write: bool) -> bool {
    let ok: &[&str] = match (family, write) {
        (Family::Directory, _) => &[
            "User.Read.All",
            "User.ReadWrite.All",
            "Directory.Read.All",
            "Directory.ReadWrite.All",
            "User.ReadBasic.All",
        ],
        (Family::MailboxSettings, false) => &["MailboxSettings.Read", "MailboxSettings.ReadWrite"],
        (Family::MailboxSettings, true) => &["MailboxSettings.ReadWrite"],
        (Family::Mail, false) => &[
            "Mail.ReadBasic",
            "Mail.ReadBasic.All",
            "Mail.Read",
            "Mail.ReadWrite",
        ],
        (Family::Mail, true) => &["Mail.ReadWrite"],
        (Family::Calendar, false) => &[
            "Calendars.ReadBasic",
            "Calendars.Read",
            "Calendars.ReadWrite",
        ],
        (Family::Calendar, true) => &["Calendars.ReadWrite"],
        (Family::Contacts, false) => &["Contacts.Read", "Contacts.ReadWrite"],
        (Family::Contacts, true) => &["Contacts.ReadWrite"],
        (Family::Tasks, false) => &["Tasks.Read.All", "Tasks.ReadWrite.All"],
        (Family::Tasks, true) => &["Tasks.ReadWrite.All"],
    };
    token
        .roles
        .iter()
        .any(|r| ok.iter().any(|o| o.eq_ignore_ascii_case(r)))
}

/// Whether the app reads this family only through a *.ReadBasic role.
fn basic_only(token: &TokenInfo, family: Family) -> bool {
    let (basic, full): (&[&str], &[&str]) = match family {
        Family::Mail => (
            &["Mail.ReadBasic", "Mail.ReadBasic.All"],
            &["Mail.Read", "Mail.ReadWrite"],
        ),
        Family::Calendar => (
            &["Calendars.ReadBasic"],
            &["Calendars.Read", "Calendars.ReadWrite"],
        ),
        _ => return false,
    };
    let has = |names: &[&str]| {
        token
            .roles
            .iter()
            .any(|r| names.iter().any(|n| n.eq_ignore_ascii_case(r)))
    };
    has(basic) && !has(full)
}

struct Ctx<'a> {
    shared: &'a Shared,
    req: &'a Req,
    now: Timestamp,
    view: View,
}

fn handle(
    store: &mut Store,
    shared: &Shared,
    req: &Req,
    token: &TokenInfo,
    now: Timestamp,
) -> Resp {
    let segs = &req.segments;
    let low: Vec<String> = segs.iter().map(|s| s.to_ascii_lowercase()).collect();
    let m = req.method.as_str();
    if low.first().map(String::as_str) != Some("users") {
        return err::no_route(m, &req.raw_path);
    }
    if low.len() <= 2 {
        if !has_role(token, Family::Directory, false) {
            return err::directory_denied();
        }
        return match (m, low.len()) {
            ("GET", 1) => list_users(store, shared, req),
            ("GET", 2) => get_user(store, shared, req, &segs[1]),
            _ => err::method_not_allowed(),
        };
    }
    let write = m != "GET";
    let family = match low[2].as_str() {
        "mailboxsettings" => Family::MailboxSettings,
        "translateexchangeids" => Family::Directory,
        "mailfolders" | "messages" => Family::Mail,
        "events" | "calendar" | "calendars" | "calendarview" => Family::Calendar,
        "contacts" | "contactfolders" => Family::Contacts,
        "todo" => Family::Tasks,
        _ => return err::no_route(m, &req.raw_path),
    };
    if !has_role(token, family, write) {
        return err::access_denied();
    }
    let Some(ui) = store.user_index(&segs[1]) else {
        return Resp::error(
            404,
            "ErrorInvalidUser",
            format!("The requested user '{}' is invalid.", segs[1]),
        );
    };
    if store.mailboxes[ui].is_none() {
        return Resp::error(
            404,
            "MailboxNotEnabledForRESTAPI",
            "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
        );
    }
    let app = &store.apps[token.app];
    if let Some(allow) = &app.access_policy_allow {
        let u = &store.users[ui];
        let allowed = allow.iter().any(|a| {
            a.eq_ignore_ascii_case(&u.id)
                || a.eq_ignore_ascii_case(&u.upn)
                || u.mail.as_deref().is_some_and(|m| a.eq_ignore_ascii_case(m))
        });
        if !allowed {
            return Resp::error(403, "ErrorAccessDenied", "Access to OData is disabled.");
        }
    }
    let prefer = req.prefer();
    let expand = match render::parse_expand(req.param("$expand")) {
        Ok(e) => e,
        Err(msg) => return err::bad_request(msg),
    };
    let ctx = Ctx {
        shared,
        req,
        now,
        view: View {
            tz: prefer.timezone.clone(),
            body_type: prefer.body_content_type.clone(),
            select: odata::select_list(req.param("$select")),
            expand,
            basic: basic_only(token, family),
        },
    };
    let mut resp = route(store, &ctx, ui, &segs[2..], &low[2..]);
    if resp.status < 300 {
        if let Some(tz) = &prefer.timezone
            && matches!(family, Family::Calendar | Family::Tasks)
        {
            resp = resp.with_header("Preference-Applied", format!("outlook.timezone=\"{tz}\""));
        }
        if let Some(bt) = &prefer.body_content_type
            && matches!(family, Family::Mail | Family::Calendar)
        {
            resp = resp.with_header(
                "Preference-Applied",
                format!("outlook.body-content-type=\"{bt}\""),
            );
        }
        if prefer.immutable_id {
            resp = resp.with_header("Preference-Applied", "IdType=\"ImmutableId\"");
        }
    }
    resp
}

fn route(store: &mut Store, ctx: &Ctx, ui: usize, segs: &[String], low: &[String]) -> Resp {
    let m = ctx.req.method.as_str();
    let l: Vec<&str> = low.iter().map(String::as_str).collect();
    match l.as_slice() {
        ["translateexchangeids"] if m == "POST" => translate_ids(ctx),
        ["mailboxsettings", rest @ ..] => {
            if m != "GET" {
                return err::method_not_allowed();
            }
            mailbox_settings(store, ctx, ui, rest.first().copied())
        }
        ["mailfolders"] if m == "GET" => {
            let mb = store.mailbox(ui);
            let folders: Vec<Value> = mb
                .mail_folders
                .iter()
                .map(|f| folder_json(store, ui, f))
                .collect();
            list_response(
                ctx,
                &format!("users('{}')/mailFolders", store.users[ui].id),
                folders,
            )
        }
        ["mailfolders", _, rest @ ..] => {
            let Some(folder) = store.mailbox(ui).mail_folder(&segs[1]).cloned() else {
                return err::not_found_item();
            };
            match rest {
                [] if m == "GET" => {
                    let mut f = folder_json(store, ui, &folder);
                    if let (Some(sel), Value::Object(o)) = (&ctx.view.select, &mut f) {
                        o.retain(|k, _| k == "id" || sel.iter().any(|s| s.eq_ignore_ascii_case(k)));
                    }
                    let Value::Object(o) = f else { unreachable!() };
                    Resp::ok(with_context(
                        &format!(
                            "{}/$metadata#users('{}')/mailFolders/$entity",
                            ctx.shared.graph_base(),
                            store.users[ui].id
                        ),
                        o,
                    ))
                }
                ["childfolders"] if m == "GET" => list_response(ctx, "mailFolders", Vec::new()),
                ["messages"] if m == "GET" => {
                    list_items(store, ctx, ui, ItemKind::Message, Some(&folder.id))
                }
                ["messages"] if m == "POST" => {
                    create(store, ctx, ui, ItemKind::Message, &folder.id)
                }
                ["messages", "delta"] if m == "GET" => delta::delta(
                    store,
                    ui,
                    ctx.req,
                    Scope::Messages(folder.id.clone()),
                    &ctx.shared.delta,
                    &ctx.shared.graph_base(),
                    ctx.view.basic,
                ),
                ["messages", _, rest2 @ ..] => {
                    item_route(store, ctx, ui, ItemKind::Message, &segs[3], rest2)
                }
                _ => err::method_not_allowed(),
            }
        }
        ["messages"] if m == "GET" => list_items(store, ctx, ui, ItemKind::Message, None),
        ["messages"] if m == "POST" => {
            let drafts = store
                .mailbox(ui)
                .mail_folder("drafts")
                .expect("drafts")
                .id
                .clone();
            create(store, ctx, ui, ItemKind::Message, &drafts)
        }
        ["messages", _, rest @ ..] => item_route(store, ctx, ui, ItemKind::Message, &segs[1], rest),
        ["calendar"] if m == "GET" => Resp::ok(calendar_json(store, ctx, ui)),
        ["calendars"] if m == "GET" => {
            let c = calendar_json(store, ctx, ui);
            list_response(ctx, "calendars", vec![c])
        }
        ["calendars", _] if m == "GET" => {
            if segs[1] != store.mailbox(ui).calendar_id {
                return err::not_found_item();
            }
            Resp::ok(calendar_json(store, ctx, ui))
        }
        ["calendars", _, _, ..] => {
            if segs[1] != store.mailbox(ui).calendar_id {
                return err::not_found_item();
            }
            route(store, ctx, ui, &segs[2..], &low[2..])
        }
        ["calendar", _, ..] => route(store, ctx, ui, &segs[1..], &low[1..]),
        ["events"] if m == "GET" => list_items(store, ctx, ui, ItemKind::Event, None),
        ["events"] if m == "POST" => create(store, ctx, ui, ItemKind::Event, ""),
        ["events", _, "instances"] if m == "GET" => instances_route(store, ctx, ui, &segs[1]),
        ["events", _, rest @ ..] => item_route(store, ctx, ui, ItemKind::Event, &segs[1], rest),
        ["calendarview"] if m == "GET" => calendar_view(store, ctx, ui),
        ["calendarview", "delta"] if m == "GET" => delta::delta(
            store,
            ui,
            ctx.req,
            Scope::CalendarView,
            &ctx.shared.delta,
            &ctx.shared.graph_base(),
            ctx.view.basic,
        ),
        ["contactfolders"] if m == "GET" => {
            let mb = store.mailbox(ui);
            let root = mb.contact_folders[0].id.clone();
            let folders: Vec<Value> = mb.contact_folders[1..]
                .iter()
                .map(|f| json!({"id": f.id, "displayName": f.display_name, "parentFolderId": root}))
                .collect();
            list_response(ctx, "contactFolders", folders)
        }
        ["contactfolders", _, rest @ ..] => {
            let mb = store.mailbox(ui);
            let Some(folder) = mb.contact_folder(&segs[1]).cloned() else {
                return err::not_found_item();
            };
            let root = mb.contact_folders[0].id.clone();
            match rest {
                [] if m == "GET" => Resp::ok(
                    json!({"id": folder.id, "displayName": folder.display_name, "parentFolderId": root}),
                ),
                ["childfolders"] if m == "GET" => list_response(ctx, "contactFolders", Vec::new()),
                ["contacts"] if m == "GET" => {
                    list_items(store, ctx, ui, ItemKind::Contact, Some(&folder.id))
                }
                ["contacts"] if m == "POST" => {
                    create(store, ctx, ui, ItemKind::Contact, &folder.id)
                }
                ["contacts", "delta"] if m == "GET" => delta::delta(
                    store,
                    ui,
                    ctx.req,
                    Scope::Contacts(folder.id.clone()),
                    &ctx.shared.delta,
                    &ctx.shared.graph_base(),
                    ctx.view.basic,
                ),
                ["contacts", _, rest2 @ ..] => {
                    item_route(store, ctx, ui, ItemKind::Contact, &segs[3], rest2)
                }
                _ => err::method_not_allowed(),
            }
        }
        ["contacts"] if m == "GET" => list_items(store, ctx, ui, ItemKind::Contact, None),
        ["contacts"] if m == "POST" => {
            let root = store.mailbox(ui).contact_folders[0].id.clone();
            create(store, ctx, ui, ItemKind::Contact, &root)
        }
        ["contacts", _, rest @ ..] => item_route(store, ctx, ui, ItemKind::Contact, &segs[1], rest),
        ["todo", "lists"] if m == "GET" => {
            let lists: Vec<Value> = store.mailbox(ui).todo_lists.iter().map(list_json).collect();
            list_response(
                ctx,
                &format!("users('{}')/todo/lists", store.users[ui].id),
                lists,
            )
        }
        ["todo", "lists"] if m == "POST" => {
            let Some(name) = ctx
                .req
                .body
                .as_ref()
                .and_then(|b| b.get("displayName"))
                .and_then(Value::as_str)
            else {
                return err::bad_request("displayName is required.");
            };
            let list = store::TodoList {
                id: store.new_id(11),
                display_name: name.to_owned(),
                wellknown: "none".into(),
                etag: store.change_key(),
            };
            let body = list_json(&list);
            store.mailbox_mut(ui).todo_lists.push(list);
            Resp::json(201, body)
        }
        ["todo", "lists", _, rest @ ..] => {
            let Some(list) = store.mailbox(ui).todo_list(&segs[2]).cloned() else {
                return Resp::error(
                    404,
                    "ErrorItemNotFound",
                    "The specified object was not found in the store.",
                );
            };
            match rest {
                [] if m == "GET" => Resp::ok(list_json(&list)),
                ["tasks"] if m == "GET" => {
                    list_items(store, ctx, ui, ItemKind::Task, Some(&list.id))
                }
                ["tasks"] if m == "POST" => create(store, ctx, ui, ItemKind::Task, &list.id),
                ["tasks", "delta"] if m == "GET" => delta::delta(
                    store,
                    ui,
                    ctx.req,
                    Scope::Tasks(list.id.clone()),
                    &ctx.shared.delta,
                    &ctx.shared.graph_base(),
                    ctx.view.basic,
                ),
                ["tasks", _, "linkedresources"] => linked_resources(store, ctx, ui, &segs[4]),
                ["tasks", _, rest2 @ ..] => {
                    item_route(store, ctx, ui, ItemKind::Task, &segs[4], rest2)
                }
                _ => err::method_not_allowed(),
            }
        }
        _ => err::no_route(m, &ctx.req.raw_path),
    }
}

/// `POST /users/{id}/translateExchangeIds`: EWS ids use standard base64 (`+`, `/`), REST ids
/// URL-safe base64 (`-`, `_`); the emulator's REST ids are already immutable.
fn translate_ids(ctx: &Ctx) -> Resp {
    let body = ctx.req.body.clone().unwrap_or(Value::Null);
    let Some(ids) = body.get("inputIds").and_then(Value::as_array) else {
        return err::bad_request("inputIds is required.");
    };
    if ids.len() > 1000 {
        return err::bad_request("At most 1000 inputIds are allowed.");
    }
    let kind = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    let (from, to) = (kind("sourceIdType"), kind("targetIdType"));
    let rest_like = |t: &str| matches!(t, "restid" | "restimmutableentryid");
    if !(from == "ewsid" || rest_like(&from)) || !(to == "ewsid" || rest_like(&to)) {
        return err::bad_request(
            "sourceIdType and targetIdType must be ewsId, restId or restImmutableEntryId in the emulator.",
        );
    }
    let value: Vec<Value> = ids
        .iter()
        .filter_map(Value::as_str)
        .map(|id| {
            let target = match (from == "ewsid", to == "ewsid") {
                (true, false) => id.replace('+', "-").replace('/', "_"),
                (false, true) => id.replace('-', "+").replace('_', "/"),
                _ => id.to_owned(),
            };
            json!({"sourceId": id, "targetId": target})
        })
        .collect();
    Resp::ok(
        json!({"@odata.context": format!("{}/$metadata#Collection(microsoft.graph.convertIdResult)", ctx.shared.graph_base()), "value": value}),
    )
}

fn list_json(l: &store::TodoList) -> Value {
    json!({"@odata.etag": format!("W/\"{}\"", l.etag), "@odata.type": "#microsoft.graph.todoTaskList", "id": l.id, "displayName": l.display_name, "isOwner": true, "isShared": false, "wellknownListName": l.wellknown})
}

fn folder_json(store: &Store, ui: usize, f: &store::Folder) -> Value {
    let mb = store.mailbox(ui);
    let (total, unread) = mb
        .items
        .values()
        .filter(|i| !i.deleted && i.container == f.id)
        .fold((0, 0), |(t, u), i| {
            (
                t + 1,
                u + usize::from(i.data.get("isRead") == Some(&Value::Bool(false))),
            )
        });
    json!({"id": f.id, "displayName": f.display_name, "parentFolderId": mb.mail_folders[0].id.clone() + "-root", "childFolderCount": 0, "unreadItemCount": unread, "totalItemCount": total, "sizeInBytes": total * 4096, "isHidden": false})
}

fn calendar_json(store: &Store, ctx: &Ctx, ui: usize) -> Value {
    let u = &store.users[ui];
    json!({
        "@odata.context": format!("{}/$metadata#users('{}')/calendars/$entity", ctx.shared.graph_base(), u.id),
        "id": store.mailbox(ui).calendar_id, "name": "Calendar", "color": "auto", "hexColor": "", "isDefaultCalendar": true,
        "changeKey": "calendar", "canShare": true, "canViewPrivateItems": true, "canEdit": true,
        "allowedOnlineMeetingProviders": ["teamsForBusiness"], "defaultOnlineMeetingProvider": "teamsForBusiness",
        "isTallyingResponses": true, "isRemovable": false,
        "owner": {"name": u.display_name, "address": u.mail.clone().unwrap_or(u.upn.clone())}
    })
}

fn list_response(ctx: &Ctx, context: &str, values: Vec<Value>) -> Resp {
    Resp::ok(
        json!({"@odata.context": format!("{}/$metadata#{context}", ctx.shared.graph_base()), "value": values}),
    )
}

fn mailbox_settings(store: &Store, ctx: &Ctx, ui: usize, sub: Option<&str>) -> Resp {
    let u = &store.users[ui];
    let base = format!(
        "{}/$metadata#users('{}')/mailboxSettings",
        ctx.shared.graph_base(),
        u.id
    );
    let tz = u.time_zone.clone();
    let archive = store
        .mailbox(ui)
        .mail_folder("archive")
        .map(|f| f.id.clone())
        .unwrap_or_default();
    let mut all = Map::new();
    all.insert("archiveFolder".into(), json!(archive));
    all.insert("timeZone".into(), json!(tz));
    all.insert(
        "automaticRepliesSetting".into(),
        json!({"status": "disabled", "externalAudience": "all",
            "scheduledStartDateTime": {"dateTime": "2026-01-01T08:00:00.0000000", "timeZone": "UTC"},
            "scheduledEndDateTime": {"dateTime": "2026-01-02T08:00:00.0000000", "timeZone": "UTC"},
            "internalReplyMessage": "", "externalReplyMessage": ""}),
    );
    all.insert(
        "language".into(),
        json!({"locale": "en-US", "displayName": "English (United States)"}),
    );
    all.insert("dateFormat".into(), json!("M/d/yyyy"));
    all.insert("timeFormat".into(), json!("h:mm tt"));
    all.insert(
        "workingHours".into(),
        json!({"daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"], "startTime": "08:00:00.0000000", "endTime": "17:00:00.0000000", "timeZone": {"name": tz}}),
    );
    all.insert("userPurpose".into(), json!({"value": "user"}));
    all.insert(
        "delegateMeetingMessageDeliveryOptions".into(),
        json!("sendToDelegateAndInformationToPrincipal"),
    );
    match sub {
        None => {
            if let Some(sel) = &ctx.view.select {
                all.retain(|k, _| sel.iter().any(|s| s.eq_ignore_ascii_case(k)));
                return Resp::ok(with_context(&format!("{base}({})", sel.join(",")), all));
            }
            Resp::ok(with_context(&base, all))
        }
        Some(key) => {
            let Some((k, v)) = all.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)) else {
                return err::no_route("GET", &ctx.req.raw_path);
            };
            let ctxurl = format!("{base}/{k}");
            match v {
                Value::Object(o) if k != "userPurpose" => {
                    Resp::ok(with_context(&ctxurl, o.clone()))
                }
                Value::Object(o) => Resp::ok(
                    json!({"@odata.context": ctxurl, "value": o.get("value").cloned().unwrap_or(Value::Null)}),
                ),
                other => Resp::ok(json!({"@odata.context": ctxurl, "value": other})),
            }
        }
    }
}

// ---- users ----

#[derive(serde::Serialize, serde::Deserialize, Default)]
struct UserPage {
    offset: usize,
    filter: Option<String>,
    select: Option<String>,
    top: usize,
    count: bool,
}

fn list_users(store: &Store, shared: &Shared, req: &Req) -> Resp {
    use base64::Engine as _;
    let page = match req.param("$skiptoken") {
        Some(t) => match base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(t)
            .ok()
            .and_then(|raw| serde_json::from_slice::<UserPage>(&raw).ok())
        {
            Some(p) => p,
            None => {
                return Resp::error(
                    400,
                    "Request_BadRequest",
                    "The specified page token value has expired and can no longer be included in your request.",
                );
            }
        },
        None => {
            let top = match req.param("$top") {
                None => 100,
                Some(t) => match t.parse::<usize>() {
                    Ok(n) if (1..=999).contains(&n) => n,
                    _ => {
                        return Resp::error(
                            400,
                            "Request_BadRequest",
                            format!(
                                "Invalid page size specified: '{t}'. Must be between 1 and 999 inclusive."
                            ),
                        );
                    }
                },
            };
            UserPage {
                offset: 0,
                filter: req.param("$filter").map(str::to_owned),
                select: req.param("$select").map(str::to_owned),
                top,
                count: req
                    .param("$count")
                    .is_some_and(|c| c.eq_ignore_ascii_case("true")),
            }
        }
    };
    let eventual = req
        .header("consistencylevel")
        .is_some_and(|v| v.eq_ignore_ascii_case("eventual"));
    let filter = match &page.filter {
        None => None,
        Some(f) => match odata::parse(f) {
            Ok(e) => Some(e),
            Err(m) => {
                return Resp::error(
                    400,
                    "Request_UnsupportedQuery",
                    format!("Invalid filter clause: {m}"),
                );
            }
        },
    };
    if let Some(f) = &filter
        && f.is_advanced()
        && !(eventual && page.count)
    {
        let op = if format!("{f:?}").contains("endswith") {
            "endsWith"
        } else {
            "Not/Ne"
        };
        let msg = if eventual {
            format!(
                "Operator '{op}' is not supported because the required parameters might be missing. Try adding $count with a value of true and setting ConsistencyLevel header with a value of eventual."
            )
        } else {
            format!(
                "Operator '{op}' is not supported because the 'ConsistencyLevel:eventual' header is missing. Refer to https://aka.ms/graph-docs/advanced-queries for more information"
            )
        };
        return Resp::error(400, "Request_UnsupportedQuery", msg);
    }
    if page.count && !eventual {
        return Resp::error(
            400,
            "Request_BadRequest",
            "$count is not currently supported without the 'ConsistencyLevel:eventual' header.",
        );
    }
    let select = odata::select_list(page.select.as_deref());
    let matched: Vec<Map<String, Value>> = store
        .users
        .iter()
        .map(|u| u.json())
        .filter(|u| {
            filter
                .as_ref()
                .is_none_or(|f| f.eval(&Value::Object(u.clone())))
        })
        .collect();
    let total = matched.len();
    let values: Vec<Value> = matched
        .into_iter()
        .skip(page.offset)
        .take(page.top)
        .map(|u| Value::Object(project_user(u, select.as_deref())))
        .collect();
    let mut body = Map::new();
    let ctxname = match &select {
        Some(s) => format!("users({})", s.join(",")),
        None => "users".into(),
    };
    body.insert(
        "@odata.context".into(),
        json!(format!("{}/$metadata#{ctxname}", shared.graph_base())),
    );
    if page.count {
        body.insert("@odata.count".into(), json!(total));
    }
    if page.offset + page.top < total {
        let next = UserPage {
            offset: page.offset + page.top,
            ..page
        };
        let tok = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&next).expect("serializes"));
        body.insert(
            "@odata.nextLink".into(),
            json!(format!("{}/users?$skiptoken={tok}", shared.graph_base())),
        );
    }
    body.insert("value".into(), Value::Array(values));
    Resp::ok(Value::Object(body))
}

fn project_user(u: Map<String, Value>, select: Option<&[String]>) -> Map<String, Value> {
    match select {
        Some(sel) => u
            .into_iter()
            .filter(|(k, _)| sel.iter().any(|s| s.eq_ignore_ascii_case(k)))
            .collect(),
        None => u
            .into_iter()
            .filter(|(k, _)| store::User::DEFAULT_PROPS.contains(&k.as_str()))
            .collect(),
    }
}

fn get_user(store: &Store, shared: &Shared, req: &Req, key: &str) -> Resp {
    let Some(ui) = store.user_index(key) else {
        return Resp::error(
            404,
            "Request_ResourceNotFound",
            format!(
                "Resource '{key}' does not exist or one of its queried reference-property objects are not present."
            ),
        );
    };
    let select = odata::select_list(req.param("$select"));
    let u = project_user(store.users[ui].json(), select.as_deref());
    Resp::ok(with_context(
        &format!("{}/$metadata#users/$entity", shared.graph_base()),
        u,
    ))
}

// ---- items ----

fn kind_context(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::Message => "messages",
        ItemKind::Event => "events",
        ItemKind::Contact => "contacts",
        ItemKind::Task => "tasks",
    }
}

fn entity_context(ctx: &Ctx, store: &Store, ui: usize, kind: ItemKind) -> String {
    let sel = ctx
        .view
        .select
        .as_ref()
        .map(|s| format!("({})", s.join(",")))
        .unwrap_or_default();
    format!(
        "{}/$metadata#users('{}')/{}{sel}/$entity",
        ctx.shared.graph_base(),
        store.users[ui].id,
        kind_context(kind)
    )
}

fn list_items(
    store: &Store,
    ctx: &Ctx,
    ui: usize,
    kind: ItemKind,
    container: Option<&str>,
) -> Resp {
    let filter = match ctx.req.param("$filter") {
        None => None,
        Some(f) => match odata::parse(f) {
            Ok(e) => Some(e),
            Err(m) => {
                return Resp::error(
                    400,
                    "ErrorInvalidUrlQueryFilter",
                    format!("The query filter contains one or more invalid nodes: {m}"),
                );
            }
        },
    };
    let top = page_size(ctx);
    let skip = ctx
        .req
        .param("$skip")
        .and_then(|t| t.parse::<usize>().ok())
        .unwrap_or(0);
    let mut matched: Vec<&Item> = store
        .mailbox(ui)
        .items
        .values()
        .filter(|i| i.kind == kind && !i.deleted && container.is_none_or(|c| i.container == c))
        .filter(|i| {
            filter
                .as_ref()
                .is_none_or(|f| f.eval(&render::filter_view(i)))
        })
        .collect();
    match kind {
        ItemKind::Message => matched.sort_by(|a, b| {
            b.str("receivedDateTime")
                .cmp(&a.str("receivedDateTime"))
                .then(a.id.cmp(&b.id))
        }),
        _ => matched.sort_by_key(|i| i.created_seq),
    }
    let total = matched.len();
    let values: Vec<Value> = matched
        .iter()
        .skip(skip)
        .take(top)
        .map(|i| Value::Object(render::item_json(i, &ctx.view)))
        .collect();
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        json!(format!(
            "{}/$metadata#users('{}')/{}",
            ctx.shared.graph_base(),
            store.users[ui].id,
            kind_context(kind)
        )),
    );
    body.insert("value".into(), Value::Array(values));
    if skip + top < total {
        let mut q: Vec<String> = ctx
            .req
            .query
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("$skip"))
            .map(|(k, v)| format!("{k}={}", super::http::enc(v)))
            .collect();
        q.push(format!("$skip={}", skip + top));
        body.insert(
            "@odata.nextLink".into(),
            json!(format!(
                "{}{}?{}",
                ctx.shared.graph_base(),
                ctx.req.raw_path,
                q.join("&")
            )),
        );
    }
    Resp::ok(Value::Object(body))
}

/// `$top`, else `Prefer: odata.maxpagesize`, else Outlook's default of 10.
fn page_size(ctx: &Ctx) -> usize {
    ctx.req
        .param("$top")
        .and_then(|t| t.parse::<usize>().ok())
        .or(ctx.req.prefer().max_page_size)
        .unwrap_or(10)
        .clamp(1, 1000)
}

fn window(ctx: &Ctx) -> Result<(Timestamp, Timestamp), Resp> {
    let (Some(s), Some(e)) = (ctx.req.param("startDateTime"), ctx.req.param("endDateTime")) else {
        return Err(Resp::error(
            400,
            "ErrorInvalidParameter",
            "This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.",
        ));
    };
    match (delta::parse_bound(s), delta::parse_bound(e)) {
        (Some(s), Some(e)) if e > s => Ok((s, e)),
        _ => Err(Resp::error(
            400,
            "ErrorInvalidParameter",
            "StartDateTime and EndDateTime must be date-times with EndDateTime after StartDateTime.",
        )),
    }
}

fn calendar_view(store: &Store, ctx: &Ctx, ui: usize) -> Resp {
    let (from, to) = match window(ctx) {
        Ok(w) => w,
        Err(r) => return r,
    };
    let mut rows: Vec<(Timestamp, Value)> = Vec::new();
    for item in store
        .mailbox(ui)
        .items
        .values()
        .filter(|i| i.kind == ItemKind::Event && !i.deleted)
    {
        if item.is_master() {
            for inst in instances(item, from, to) {
                rows.push((
                    inst.start,
                    Value::Object(render::instance_json(item, &inst, &ctx.view, false)),
                ));
            }
        } else if let (Some(s), Some(e)) = (
            item.data.get("start").and_then(super::calendar::instant_of),
            item.data.get("end").and_then(super::calendar::instant_of),
        ) && s < to
            && e > from
        {
            rows.push((s, Value::Object(render::item_json(item, &ctx.view))));
        }
    }
    rows.sort_by_key(|(s, _)| *s);
    let top = page_size(ctx);
    let skip = ctx
        .req
        .param("$skip")
        .and_then(|t| t.parse::<usize>().ok())
        .unwrap_or(0);
    let total = rows.len();
    let values: Vec<Value> = rows
        .into_iter()
        .skip(skip)
        .take(top)
        .map(|(_, v)| v)
        .collect();
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        json!(format!(
            "{}/$metadata#users('{}')/calendarView",
            ctx.shared.graph_base(),
            store.users[ui].id
        )),
    );
    body.insert("value".into(), Value::Array(values));
    if skip + top < total {
        let mut q: Vec<String> = ctx
            .req
            .query
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("$skip"))
            .map(|(k, v)| format!("{k}={}", super::http::enc(v)))
            .collect();
        q.push(format!("$skip={}", skip + top));
        body.insert(
            "@odata.nextLink".into(),
            json!(format!(
                "{}{}?{}",
                ctx.shared.graph_base(),
                ctx.req.raw_path,
                q.join("&")
            )),
        );
    }
    Resp::ok(Value::Object(body))
}

fn instances_route(store: &Store, ctx: &Ctx, ui: usize, id: &str) -> Resp {
    let (from, to) = match window(ctx) {
        Ok(w) => w,
        Err(r) => return r,
    };
    let Some(master) = store
        .mailbox(ui)
        .live(id)
        .filter(|i| i.kind == ItemKind::Event)
    else {
        return err::not_found_item();
    };
    let values: Vec<Value> = if master.is_master() {
        instances(master, from, to)
            .iter()
            .map(|i| Value::Object(render::instance_json(master, i, &ctx.view, false)))
            .collect()
    } else {
        Vec::new()
    };
    let sel = ctx
        .view
        .select
        .as_ref()
        .map(|s| format!("({})", s.join(",")))
        .unwrap_or_default();
    Resp::ok(json!({
        "@odata.context": format!("{}/$metadata#users('{}')/events('{}')/instances{sel}", ctx.shared.graph_base(), store.users[ui].id, super::http::enc(id)),
        "value": values
    }))
}

fn linked_resources(store: &mut Store, ctx: &Ctx, ui: usize, task_id: &str) -> Resp {
    let Some(task) = store
        .mailbox(ui)
        .live(task_id)
        .filter(|i| i.kind == ItemKind::Task)
        .cloned()
    else {
        return err::not_found_item();
    };
    match ctx.req.method.as_str() {
        "GET" => Resp::ok(
            json!({"value": task.data.get("linkedResources").cloned().unwrap_or(json!([]))}),
        ),
        "POST" => {
            let Some(Value::Object(mut link)) = ctx.req.body.clone() else {
                return err::bad_request("Expected a linkedResource object.");
            };
            let g = store.guid();
            link.insert("id".into(), json!(g));
            let item = store
                .mailbox_mut(ui)
                .items
                .get_mut(task_id)
                .expect("checked");
            let arr = item.data.entry("linkedResources").or_insert(json!([]));
            if let Value::Array(a) = arr {
                a.push(Value::Object(link.clone()));
            }
            store.touch(ui, task_id, ctx.now);
            Resp::json(201, Value::Object(link))
        }
        _ => err::method_not_allowed(),
    }
}

fn find_item<'a>(store: &'a Store, ui: usize, kind: ItemKind, id: &str) -> Result<&'a Item, Resp> {
    match store.mailbox(ui).live(id) {
        Some(i) if i.kind == kind => Ok(i),
        _ => {
            if kind == ItemKind::Event
                && let Some((mid, _)) = Store::occurrence_parts(id)
                && let Some(m) = store.mailbox(ui).live(&mid)
            {
                return Ok(m);
            }
            if base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE, id).is_err()
                && uuid::Uuid::parse_str(id).is_err()
            {
                return Err(err::malformed_id());
            }
            Err(err::not_found_item())
        }
    }
}

fn check_if_match(req: &Req, item: &Item) -> Result<(), Resp> {
    let Some(want) = req.header("if-match") else {
        return Ok(());
    };
    let want = want.trim();
    if want == "*" {
        return Ok(());
    }
    let bare = want.trim_start_matches("W/").trim_matches('"');
    let etag = item.etag();
    let current = etag.trim_start_matches("W/").trim_matches('"');
    if bare == current || want == etag {
        Ok(())
    } else {
        Err(err::conflict_412())
    }
}

fn item_route(
    store: &mut Store,
    ctx: &Ctx,
    ui: usize,
    kind: ItemKind,
    id: &str,
    rest: &[&str],
) -> Resp {
    let m = ctx.req.method.as_str();
    if !rest.is_empty() {
        let r0 = rest[0].to_ascii_lowercase();
        if kind == ItemKind::Event
            && matches!(
                r0.as_str(),
                "cancel" | "accept" | "decline" | "tentativelyaccept"
            )
            && m == "POST"
        {
            return event_response(store, ctx, ui, id, &r0);
        }
        if kind == ItemKind::Message && r0 == "move" && m == "POST" {
            return move_message(store, ctx, ui, id);
        }
        if r0 == "extensions" {
            return extensions_route(store, ctx, ui, kind, id, rest.get(1).copied());
        }
        return err::no_route(m, &ctx.req.raw_path);
    }
    let item = match find_item(store, ui, kind, id) {
        Ok(i) => i.clone(),
        Err(r) => return r,
    };
    match m {
        "GET" => {
            if let Some((_, date)) = Store::occurrence_parts(id) {
                let Some(inst) = instance_on(&item, date) else {
                    return err::not_found_item();
                };
                let body = render::instance_json(&item, &inst, &ctx.view, false);
                return Resp::ok(with_context(&entity_context(ctx, store, ui, kind), body));
            }
            let mut body = render::item_json(&item, &ctx.view);
            if kind == ItemKind::Event {
                let cal = format!(
                    "{}/users('{}')/calendars('{}')",
                    ctx.shared.graph_base(),
                    store.users[ui].id,
                    store.mailbox(ui).calendar_id
                );
                body.insert(
                    "calendar@odata.associationLink".into(),
                    json!(format!("{cal}/$ref")),
                );
                body.insert("calendar@odata.navigationLink".into(), json!(cal));
            }
            Resp::ok(with_context(&entity_context(ctx, store, ui, kind), body))
        }
        "PATCH" => {
            if let Err(r) = check_if_match(ctx.req, &item) {
                return r;
            }
            let Some(Value::Object(patch)) = ctx.req.body.clone() else {
                return err::bad_request("Empty Payload. JSON content expected.");
            };
            if let Err(r) = apply_patch(store, ui, id, patch, ctx.now, false) {
                return r;
            }
            let item = find_item(store, ui, kind, id).expect("still there").clone();
            let body = if let Some((_, date)) = Store::occurrence_parts(id) {
                match instance_on(&item, date) {
                    Some(inst) => render::instance_json(&item, &inst, &ctx.view, false),
                    None => render::item_json(&item, &ctx.view),
                }
            } else {
                render::item_json(&item, &ctx.view)
            };
            Resp::ok(with_context(&entity_context(ctx, store, ui, kind), body))
        }
        "DELETE" => {
            if let Err(r) = check_if_match(ctx.req, &item) {
                return r;
            }
            match delete_item(store, ui, id, ctx.now) {
                Ok(()) => Resp::no_content(),
                Err(r) => r,
            }
        }
        _ => err::method_not_allowed(),
    }
}

fn event_response(store: &mut Store, ctx: &Ctx, ui: usize, id: &str, action: &str) -> Resp {
    let item = match find_item(store, ui, ItemKind::Event, id) {
        Ok(i) => i.clone(),
        Err(r) => return r,
    };
    let organizer = item.data.get("isOrganizer").and_then(Value::as_bool) == Some(true);
    match (action, organizer) {
        ("cancel", true) => match delete_item(store, ui, id, ctx.now) {
            Ok(()) => Resp {
                status: 202,
                headers: Vec::new(),
                body: None,
            },
            Err(r) => r,
        },
        ("cancel", false) => Resp::error(
            400,
            "ErrorInvalidRequest",
            "Your request can't be completed. You need to be an organizer to cancel a meeting.",
        ),
        (_, true) => Resp::error(
            400,
            "ErrorInvalidRequest",
            "Your request can't be completed. You can't respond to a meeting you organized.",
        ),
        (a, false) => {
            let response = match a {
                "accept" => "accepted",
                "decline" => "declined",
                _ => "tentativelyAccepted",
            };
            let now = super::calendar::fmt_instant(ctx.now);
            let item = store
                .mailbox_mut(ui)
                .items
                .get_mut(&item.id)
                .expect("found");
            item.data.insert(
                "responseStatus".into(),
                json!({"response": response, "time": now}),
            );
            let iid = item.id.clone();
            store.touch(ui, &iid, ctx.now);
            Resp {
                status: 202,
                headers: Vec::new(),
                body: None,
            }
        }
    }
}

/// `POST /messages/{id}/move`: a new id in the destination unless the client asked for immutable
/// ids (then the id stays and the source folder's delta reports it removed).
fn move_message(store: &mut Store, ctx: &Ctx, ui: usize, id: &str) -> Resp {
    let item = match find_item(store, ui, ItemKind::Message, id) {
        Ok(i) => i.clone(),
        Err(r) => return r,
    };
    let Some(dest) = ctx
        .req
        .body
        .as_ref()
        .and_then(|b| b.get("destinationId"))
        .and_then(Value::as_str)
    else {
        return err::bad_request("destinationId is required.");
    };
    let Some(dest) = store.mailbox(ui).mail_folder(dest).map(|f| f.id.clone()) else {
        return err::not_found_item();
    };
    let new_id = if ctx.req.prefer().immutable_id {
        let seq = store.next_seq();
        let mb = store.mailbox_mut(ui);
        mb.departures
            .push((id.to_owned(), item.container.clone(), seq));
        let slot = mb.items.get_mut(id).expect("found");
        slot.container = dest.clone();
        slot.data.insert("parentFolderId".into(), json!(dest));
        store.touch(ui, id, ctx.now);
        id.to_owned()
    } else {
        let fresh = store.new_id(1);
        let mut moved = item.clone();
        moved.id = fresh.clone();
        moved.container = dest.clone();
        moved.data.insert("id".into(), json!(fresh));
        moved.data.insert("parentFolderId".into(), json!(dest));
        store
            .mailbox_mut(ui)
            .items
            .get_mut(id)
            .expect("found")
            .deleted = true;
        store.touch(ui, id, ctx.now);
        let seq = store.next_seq();
        moved.created_seq = seq;
        moved.seq = seq;
        store.mailbox_mut(ui).items.insert(fresh.clone(), moved);
        store.touch(ui, &fresh, ctx.now);
        fresh
    };
    let item = store.mailbox(ui).live(&new_id).expect("moved");
    let body = render::item_json(item, &ctx.view);
    Resp::json(
        201,
        with_context(&entity_context(ctx, store, ui, ItemKind::Message), body),
    )
}

/// Open extensions: `…/{id}/extensions[/{name}]`.
fn extensions_route(
    store: &mut Store,
    ctx: &Ctx,
    ui: usize,
    kind: ItemKind,
    id: &str,
    ext: Option<&str>,
) -> Resp {
    let item = match find_item(store, ui, kind, id) {
        Ok(i) => i.clone(),
        Err(r) => return r,
    };
    const PREFIX: &str = "Microsoft.OutlookServices.OpenTypeExtension.";
    let find = |name: &str| {
        let short = name.strip_prefix(PREFIX).unwrap_or(name);
        item.extensions.iter().position(|e| {
            e.get("extensionName")
                .and_then(Value::as_str)
                .is_some_and(|n| n.eq_ignore_ascii_case(short))
        })
    };
    let context = format!(
        "{}/$metadata#users('{}')/{}('{}')/extensions",
        ctx.shared.graph_base(),
        store.users[ui].id,
        kind_context(kind),
        item.id
    );
    match (ctx.req.method.as_str(), ext) {
        ("GET", None) => Resp::ok(json!({"@odata.context": context, "value": item.extensions})),
        ("POST", None) => {
            let Some(Value::Object(mut body)) = ctx.req.body.clone() else {
                return err::bad_request("Empty Payload. JSON content expected.");
            };
            let Some(name) = body
                .get("extensionName")
                .and_then(Value::as_str)
                .map(str::to_owned)
            else {
                return err::bad_request("extensionName is required.");
            };
            if find(&name).is_some() {
                return Resp::error(
                    409,
                    "NameAlreadyExists",
                    format!("An extension named '{name}' already exists on this item."),
                );
            }
            body.insert(
                "@odata.type".into(),
                json!("#microsoft.graph.openTypeExtension"),
            );
            body.insert("id".into(), json!(format!("{PREFIX}{name}")));
            store
                .mailbox_mut(ui)
                .items
                .get_mut(&item.id)
                .expect("found")
                .extensions
                .push(body.clone());
            store.touch(ui, &item.id, ctx.now);
            Resp::json(201, with_context(&format!("{context}/$entity"), body))
        }
        (method, Some(name)) => {
            let Some(pos) = find(name) else {
                return err::not_found_item();
            };
            match method {
                "GET" => Resp::ok(with_context(
                    &format!("{context}/$entity"),
                    item.extensions[pos].clone(),
                )),
                "PATCH" => {
                    let Some(Value::Object(patch)) = ctx.req.body.clone() else {
                        return err::bad_request("Empty Payload. JSON content expected.");
                    };
                    let slot = store
                        .mailbox_mut(ui)
                        .items
                        .get_mut(&item.id)
                        .expect("found");
                    for (k, v) in patch {
                        if !matches!(k.as_str(), "id" | "extensionName" | "@odata.type") {
                            slot.extensions[pos].insert(k, v);
                        }
                    }
                    let out = slot.extensions[pos].clone();
                    store.touch(ui, &item.id, ctx.now);
                    Resp::ok(with_context(&format!("{context}/$entity"), out))
                }
                "DELETE" => {
                    store
                        .mailbox_mut(ui)
                        .items
                        .get_mut(&item.id)
                        .expect("found")
                        .extensions
                        .remove(pos);
                    store.touch(ui, &item.id, ctx.now);
                    Resp::no_content()
                }
                _ => err::method_not_allowed(),
            }
        }
        _ => err::method_not_allowed(),
    }
}

const DRAFT_ONLY: [&str; 9] = [
    "body",
    "subject",
    "toRecipients",
    "ccRecipients",
    "bccRecipients",
    "replyTo",
    "from",
    "sender",
    "internetMessageId",
];

/// Applies a PATCH (or a user's change from a test helper) to an item or an occurrence.
pub fn apply_patch(
    store: &mut Store,
    ui: usize,
    id: &str,
    mut patch: Map<String, Value>,
    now: Timestamp,
    as_user: bool,
) -> Result<(), Resp> {
    for k in [
        "id",
        "@odata.etag",
        "@odata.type",
        "@odata.context",
        "changeKey",
        "createdDateTime",
        "lastModifiedDateTime",
        "type",
        "seriesMasterId",
        "iCalUId",
        "uid",
    ] {
        patch.remove(k);
    }
    if let Some((mid, date)) = Store::occurrence_parts(id) {
        let Some(master) = store.mailbox(ui).live(&mid).cloned() else {
            return Err(err::not_found_item());
        };
        if instance_on(&master, date).is_none() {
            return Err(err::not_found_item());
        }
        let ext = store::take_ext(&mut patch);
        let item = store.mailbox_mut(ui).items.get_mut(&mid).expect("found");
        let over = item.exceptions.entry(date).or_default();
        for (k, v) in patch {
            over.insert(k, v);
        }
        store::merge_ext(&mut item.ext, ext);
        store.touch(ui, &mid, now);
        store.sync_invitations(ui, &mid, now);
        return Ok(());
    }
    let Some(item) = store.mailbox(ui).live(id).cloned() else {
        return Err(err::not_found_item());
    };
    if item.kind == ItemKind::Message
        && !as_user
        && item.data.get("isDraft") != Some(&Value::Bool(true))
        && let Some(k) = patch.keys().find(|k| DRAFT_ONLY.contains(&k.as_str()))
    {
        return Err(Resp::error(
            400,
            "ErrorInvalidPropertyUpdateSentMessage",
            format!(
                "Update operation is not allowed for property '{k}' of a message that is not a draft."
            ),
        ));
    }
    let ext = store::take_ext(&mut patch);
    // A user who drags an all-day event to a time slot turns "all day" off.
    let timed_by_user = as_user
        && item.kind == ItemKind::Event
        && !patch.contains_key("isAllDay")
        && ["start", "end"].iter().any(|k| {
            patch
                .get(*k)
                .and_then(super::calendar::wall_of)
                .is_some_and(|w| w.time() != jiff::civil::Time::midnight())
        });
    let mut data = item.data.clone();
    for (k, v) in patch {
        data.insert(k, v);
    }
    if timed_by_user {
        data.insert("isAllDay".into(), Value::Bool(false));
    }
    match item.kind {
        ItemKind::Event => {
            if let Err(m) = store.normalize_event(&mut data) {
                return Err(Resp::error(400, "ErrorInvalidRequest", m));
            }
        }
        ItemKind::Message => store::normalize_body(&mut data),
        ItemKind::Contact => store::refresh_contact(&mut data),
        ItemKind::Task => store.fix_task(&mut data, now),
    }
    {
        let slot = store.mailbox_mut(ui).items.get_mut(id).expect("found");
        slot.data = data.clone();
        store::merge_ext(&mut slot.ext, ext);
        if slot.data.get("recurrence").is_none_or(Value::is_null) {
            slot.exceptions.clear();
            slot.cancelled.clear();
        }
    }
    store.touch(ui, id, now);
    // An organizer's update reaches the attendees' copies.
    if item.kind == ItemKind::Event {
        store.sync_invitations(ui, id, now);
    }
    Ok(())
}

/// Deletes an item (tombstone), or cancels one occurrence of a series.
pub fn delete_item(store: &mut Store, ui: usize, id: &str, now: Timestamp) -> Result<(), Resp> {
    if let Some((mid, date)) = Store::occurrence_parts(id) {
        let Some(master) = store.mailbox(ui).live(&mid).cloned() else {
            return Err(err::not_found_item());
        };
        if instance_on(&master, date).is_none() {
            return Err(err::not_found_item());
        }
        let item = store.mailbox_mut(ui).items.get_mut(&mid).expect("found");
        item.cancelled.insert(date);
        item.exceptions.remove(&date);
        store.touch(ui, &mid, now);
        store.sync_invitations(ui, &mid, now);
        return Ok(());
    }
    let Some(item) = store.mailbox(ui).live(id).cloned() else {
        return Err(err::not_found_item());
    };
    store
        .mailbox_mut(ui)
        .items
        .get_mut(id)
        .expect("found")
        .deleted = true;
    store.touch(ui, id, now);
    if item.kind == ItemKind::Event && item.data.get("isOrganizer") == Some(&Value::Bool(true)) {
        let ical = item.str("iCalUId").unwrap_or("").to_owned();
        for (oi, cid) in store.copies_of(ui, &ical) {
            let c = store.mailbox_mut(oi).items.get_mut(&cid).expect("found");
            c.data.insert("isCancelled".into(), json!(true));
            let subject = c.str("subject").unwrap_or("").to_owned();
            if !subject.starts_with("Canceled: ") {
                c.data
                    .insert("subject".into(), json!(format!("Canceled: {subject}")));
            }
            store.touch(oi, &cid, now);
        }
    }
    Ok(())
}

fn create(store: &mut Store, ctx: &Ctx, ui: usize, kind: ItemKind, container: &str) -> Resp {
    let Some(Value::Object(body)) = ctx.req.body.clone() else {
        return err::bad_request("Empty Payload. JSON content expected.");
    };
    let mut body = body;
    for k in [
        "id",
        "@odata.etag",
        "changeKey",
        "createdDateTime",
        "lastModifiedDateTime",
        "@odata.type",
    ] {
        body.remove(k);
    }
    let id = match kind {
        ItemKind::Message => {
            for k in ["isDraft", "parentFolderId"] {
                body.remove(k);
            }
            store.create_message(ui, container, body, true, ctx.now)
        }
        ItemKind::Contact => store.create_contact(ui, container, body, ctx.now),
        ItemKind::Task => {
            if body
                .get("title")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                return err::bad_request("A title is required for a task.");
            }
            store.create_task(ui, container, body, ctx.now)
        }
        ItemKind::Event => {
            for k in ["exceptions", "cancelledOccurrences"] {
                body.remove(k);
            }
            let tx = body
                .get("transactionId")
                .and_then(Value::as_str)
                .map(str::to_owned);
            if let Some(tx) = &tx
                && let Some(existing) = store.mailbox(ui).transactions.get(tx)
                && let Some(item) = store.mailbox(ui).live(existing)
            {
                let rendered = render::item_json(item, &ctx.view);
                return Resp::json(
                    201,
                    with_context(&entity_context(ctx, store, ui, kind), rendered),
                );
            }
            match store.create_event(ui, body, ctx.now) {
                Ok(id) => {
                    if let Some(tx) = tx {
                        store.mailbox_mut(ui).transactions.insert(tx, id.clone());
                    }
                    id
                }
                Err(m) => return Resp::error(400, "ErrorInvalidRequest", m),
            }
        }
    };
    let item = store.mailbox(ui).live(&id).expect("created");
    let rendered = render::item_json(item, &ctx.view);
    Resp::json(
        201,
        with_context(&entity_context(ctx, store, ui, kind), rendered),
    )
}
