//! Request pipeline (auth → throttling → faults → handler) and the Graph routes.
//!
//! Paths are matched case-insensitively on their fixed segments, as Graph does; ids keep their
//! case (they are case-sensitive). Mailbox routes check the app's roles first, then the user, the
//! mailbox and the application access policy, in Graph's order of answers.

use std::{future::Future, pin::Pin, sync::Arc};

use jiff::Timestamp;
use serde_json::{Value, json};

use crate::lock;

use super::{
    auth, batch,
    delta::{self, Scope},
    folders,
    http::{Req, Resp, err},
    id_forms::{regularize, takes_item_ids, translate_ids},
    items::{
        ListScope, calendar_view, create, instances_route, item_route, linked_resources,
        list_items, send_mail,
    },
    odata,
    render::{self, View},
    store::{self, ItemKind, Store, TokenInfo},
    subscriptions,
    throttle::Admission,
    users::{get_user, list_users, mailbox_settings, update_mailbox_settings},
    wire::{Ctx, Family, Shared, basic_only, fault_response, has_role, list_response},
};

pub(super) const COLLECTIONS: [&str; 15] = [
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
            let mut t = lock(&shared.throttle);
            t.counters.requests += 1;
            if takes_item_ids(&req) && !req.prefer().immutable_id {
                *t.counters
                    .without_immutable_id
                    .entry(label.clone())
                    .or_insert(0) += 1;
            }
            *t.counters.per_endpoint.entry(label).or_insert(0) += 1;
        }
        let token = {
            let store = lock(&shared.store);
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
            let r = batch::run(shared.clone(), &req, graph).await;
            return count_status(&shared, r);
        }
        if req
            .segments
            .first()
            .is_some_and(|s| s.eq_ignore_ascii_case("subscriptions"))
        {
            let r = subscriptions::handle(&shared, &req, &token).await;
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
            let store = lock(&shared.store);
            store
                .user_index(&req.segments[1])
                .map(|ui| (ui, store.users[ui].upn.to_lowercase()))
        } else {
            None
        };
        let mut _in_flight = None;
        if let Some((ui, name)) = &mailbox {
            let mut t = lock(&shared.throttle);
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
pub(super) struct InFlight {
    shared: Arc<Shared>,
    key: (usize, usize),
}

impl Drop for InFlight {
    fn drop(&mut self) {
        lock(&self.shared.throttle).release(self.key);
    }
}

async fn handle_admitted(
    shared: &Arc<Shared>,
    req: &Req,
    token: &TokenInfo,
    in_batch: bool,
) -> Resp {
    let (fault, latency) = {
        let mut t = lock(&shared.throttle);
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
            lock(&shared.throttle).counters.throttled_429 += 1;
        }
        return fault_response(status, retry);
    }
    let now = shared.clock.now();
    let mut store = lock(&shared.store);
    handle(&mut store, shared, req, token, now)
}

pub(super) fn count_status(shared: &Shared, r: Resp) -> Resp {
    let mut t = lock(&shared.throttle);
    *t.counters.statuses.entry(r.status).or_insert(0) += 1;
    r
}

pub(super) fn handle(
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
        "sendmail" => Family::MailSend,
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
    // Ids are taken in either form; a regular id stands for its item while the item stays in
    // the folder it was issued for.
    let two_forms = matches!(family, Family::Mail | Family::Calendar | Family::Contacts);
    let segs: Vec<String> = if two_forms {
        segs.iter()
            .map(|s| store.resolve_regular_id(ui, s).unwrap_or_else(|| s.clone()))
            .collect()
    } else {
        segs.clone()
    };
    let expand = match render::parse_expand(req.param("$expand")) {
        Ok(e) => e,
        Err(msg) => return err::bad_request(msg),
    };
    let ctx = Ctx {
        shared,
        token,
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
    if two_forms
        && !prefer.immutable_id
        && let Some(body) = resp.body.as_mut()
    {
        regularize(store, ui, body);
    }
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

pub(super) fn route(
    store: &mut Store,
    ctx: &Ctx,
    ui: usize,
    segs: &[String],
    low: &[String],
) -> Resp {
    let m = ctx.req.method.as_str();
    let l: Vec<&str> = low.iter().map(String::as_str).collect();
    match l.as_slice() {
        ["translateexchangeids"] if m == "POST" => translate_ids(store, ctx, ui),
        ["mailboxsettings"] if m == "PATCH" => update_mailbox_settings(store, ctx, ui),
        ["mailboxsettings", rest @ ..] => {
            if m != "GET" {
                return err::method_not_allowed();
            }
            mailbox_settings(store, ctx, ui, rest.first().copied())
        }
        ["mailfolders", "delta"] if m == "GET" => folders::mail_folders_delta(store, ctx, ui),
        ["contactfolders", "delta"] if m == "GET" => folders::contact_folders_delta(store, ctx, ui),
        ["todo", "lists", "delta"] if m == "GET" => {
            let entries = store
                .mailbox(ui)
                .todo_lists
                .iter()
                .map(|l| (l.seq, list_json(l)))
                .collect();
            delta::collection_delta(
                store,
                ui,
                ctx.req,
                "lists",
                entries,
                "Collection(todoTaskList)",
                &ctx.shared.delta,
                &ctx.shared.graph_base(),
            )
        }
        ["mailfolders"] => folders::mail_folders(store, ctx, ui),
        ["mailfolders", _, rest @ ..] => {
            let Some(folder) = store.mailbox(ui).mail_folder(&segs[1]).cloned() else {
                return err::not_found_item();
            };
            if let Some(r) = folders::mail_folder_route(store, ctx, ui, &folder, &segs[1], rest) {
                return r;
            }
            match rest {
                ["messages"] if m == "GET" => list_items(
                    store,
                    ctx,
                    ui,
                    ItemKind::Message,
                    ListScope::Container {
                        id: &folder.id,
                        context: format!("mailFolders('{}')/messages", segs[1]),
                    },
                ),
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
        ["messages"] if m == "GET" => {
            list_items(store, ctx, ui, ItemKind::Message, ListScope::Mailbox)
        }
        ["sendmail"] if m == "POST" => send_mail(store, ctx, ui, None),
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
        ["events"] if m == "GET" => list_items(store, ctx, ui, ItemKind::Event, ListScope::Mailbox),
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
        ["contactfolders"] => folders::contact_folders(store, ctx, ui),
        ["contactfolders", _, rest @ ..] => {
            let Some(folder) = store.mailbox(ui).contact_folder(&segs[1]).cloned() else {
                return err::not_found_item();
            };
            if let Some(r) = folders::contact_folder_route(store, ctx, ui, &folder, rest) {
                return r;
            }
            match rest {
                ["contacts"] if m == "GET" => list_items(
                    store,
                    ctx,
                    ui,
                    ItemKind::Contact,
                    ListScope::Container {
                        id: &folder.id,
                        context: format!("contactFolders('{}')/contacts", segs[1]),
                    },
                ),
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
        ["contacts"] if m == "GET" => {
            list_items(store, ctx, ui, ItemKind::Contact, ListScope::Mailbox)
        }
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
                seq: store.next_seq(),
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
                ["tasks"] if m == "GET" => list_items(
                    store,
                    ctx,
                    ui,
                    ItemKind::Task,
                    ListScope::Container {
                        id: &list.id,
                        context: format!("todo/lists('{}')/tasks", segs[2]),
                    },
                ),
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

pub(super) fn list_json(l: &store::TodoList) -> Value {
    json!({"@odata.etag": format!("W/\"{}\"", l.etag), "@odata.type": "#microsoft.graph.todoTaskList", "id": l.id, "displayName": l.display_name, "isOwner": true, "isShared": false, "wellknownListName": l.wellknown})
}

pub(super) fn calendar_json(store: &Store, ctx: &Ctx, ui: usize) -> Value {
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
