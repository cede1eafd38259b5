//! Outlook item routes: lists, calendarView, instances, GET/PATCH/DELETE with `If-Match`, creates
//! (drafts, `transactionId`), occurrences and exceptions, message moves, linked resources, open
//! extensions.

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::{
    delta,
    http::{Req, Resp, err, with_context},
    odata, percent,
    recurrence::{instance_on, instances},
    render,
    store::{self, Item, ItemKind, Store},
    wire::Ctx,
};

pub(super) fn kind_context(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::Message => "messages",
        ItemKind::Event => "events",
        ItemKind::Contact => "contacts",
        ItemKind::Task => "tasks",
    }
}

pub(super) fn entity_context(ctx: &Ctx, store: &Store, ui: usize, kind: ItemKind) -> String {
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

/// Where a list is read from: the whole mailbox (`/users/{id}/messages`) or one folder or list,
/// named as the caller wrote it (`mailFolders('inbox')/messages`), which is how Graph's
/// `@odata.context` names it.
pub(super) enum ListScope<'a> {
    Mailbox,
    Container {
        id: &'a str,
        /// The context path below `users('{id}')/`, e.g. `mailFolders('inbox')/messages`.
        context: String,
    },
}

pub(super) fn list_items(
    store: &Store,
    ctx: &Ctx,
    ui: usize,
    kind: ItemKind,
    scope: ListScope<'_>,
) -> Resp {
    let (container, context_path) = match scope {
        ListScope::Mailbox => (None, kind_context(kind).to_owned()),
        ListScope::Container { id, context } => (Some(id), context),
    };
    let filter = match ctx.req.param("$filter") {
        None => None,
        Some(f) => match odata::parse(f)
            .and_then(|e| odata::check_extended_property_lambdas(&e).map(|()| e))
        {
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
    let skip = skip_param(ctx);
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
    let context = format!(
        "{}/$metadata#users('{}')/{context_path}{}",
        ctx.shared.graph_base(),
        store.users[ui].id,
        ctx.view
            .select
            .as_ref()
            .map(|s| format!("({})", s.join(",")))
            .unwrap_or_default()
    );
    skip_page(ctx, context, values, skip, top, total)
}

/// `$skip` of a `$skip`-paged list (0 when absent or not a number).
fn skip_param(ctx: &Ctx) -> usize {
    ctx.req
        .param("$skip")
        .and_then(|t| t.parse::<usize>().ok())
        .unwrap_or(0)
}

/// One page of a `$skip`-paged list: `@odata.context`, `value`, and while items remain a nextLink
/// that repeats the request's query with the next `$skip`.
fn skip_page(
    ctx: &Ctx,
    context: String,
    values: Vec<Value>,
    skip: usize,
    top: usize,
    total: usize,
) -> Resp {
    let mut body = Map::new();
    body.insert("@odata.context".into(), json!(context));
    body.insert("value".into(), Value::Array(values));
    if skip + top < total {
        let mut q: Vec<String> = ctx
            .req
            .query
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("$skip"))
            .map(|(k, v)| format!("{k}={}", percent::enc(v)))
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
pub(super) fn page_size(ctx: &Ctx) -> usize {
    ctx.req
        .param("$top")
        .and_then(|t| t.parse::<usize>().ok())
        .or(ctx.req.prefer().max_page_size)
        .unwrap_or(10)
        .clamp(1, 1000)
}

pub(super) fn window(ctx: &Ctx) -> Result<(Timestamp, Timestamp), Resp> {
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

pub(super) fn calendar_view(store: &Store, ctx: &Ctx, ui: usize) -> Resp {
    let (from, to) = match window(ctx) {
        Ok(w) => w,
        Err(r) => return r,
    };
    if let Err(r) = delta::check_window_days(from, to) {
        return r;
    }
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
    let skip = skip_param(ctx);
    let total = rows.len();
    let values: Vec<Value> = rows
        .into_iter()
        .skip(skip)
        .take(top)
        .map(|(_, v)| v)
        .collect();
    let context = format!(
        "{}/$metadata#users('{}')/calendarView",
        ctx.shared.graph_base(),
        store.users[ui].id
    );
    skip_page(ctx, context, values, skip, top, total)
}

pub(super) fn instances_route(store: &Store, ctx: &Ctx, ui: usize, id: &str) -> Resp {
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
        "@odata.context": format!("{}/$metadata#users('{}')/events('{}')/instances{sel}", ctx.shared.graph_base(), store.users[ui].id, percent::enc(id)),
        "value": values
    }))
}

pub(super) fn linked_resources(store: &mut Store, ctx: &Ctx, ui: usize, task_id: &str) -> Resp {
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

pub(super) fn find_item<'a>(
    store: &'a Store,
    ui: usize,
    kind: ItemKind,
    id: &str,
) -> Result<&'a Item, Resp> {
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

/// `If-Match` against the item's etag, or, for an occurrence id, the occurrence's own.
pub(super) fn check_if_match(req: &Req, item: &Item, id: &str) -> Result<(), Resp> {
    let Some(want) = req.header("if-match") else {
        return Ok(());
    };
    let want = want.trim();
    if want == "*" {
        return Ok(());
    }
    let bare = want.trim_start_matches("W/").trim_matches('"');
    let etag = match Store::occurrence_parts(id).and_then(|(_, date)| instance_on(item, date)) {
        Some(inst) => inst.etag(item),
        None => item.etag(),
    };
    let current = etag.trim_start_matches("W/").trim_matches('"');
    if bare == current || want == etag {
        Ok(())
    } else {
        Err(err::conflict_412())
    }
}

pub(super) fn item_route(
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
        if kind == ItemKind::Message && r0 == "send" && m == "POST" {
            return send_mail(store, ctx, ui, Some(id));
        }
        if r0 == "permanentdelete" && m == "POST" && kind != ItemKind::Task {
            return match delete_item(store, ui, id, ctx.now) {
                Ok(()) => Resp::no_content(),
                Err(r) => r,
            };
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
            if let Err(r) = check_if_match(ctx.req, &item, id) {
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
            if let Err(r) = check_if_match(ctx.req, &item, id) {
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

pub(super) fn event_response(
    store: &mut Store,
    ctx: &Ctx,
    ui: usize,
    id: &str,
    action: &str,
) -> Resp {
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
            let send = ctx
                .req
                .body
                .as_ref()
                .and_then(|b| b.get("sendResponse"))
                .and_then(Value::as_bool)
                != Some(false);
            if send {
                record_response(store, ui, &iid, response, &now, ctx.now);
            }
            Resp {
                status: 202,
                headers: Vec::new(),
                body: None,
            }
        }
    }
}

/// Exchange processes an attendee's response in the organizer's mailbox: the organizer's copy
/// shows the attendee's status (and gets a new change key, so its delta reports the event).
fn record_response(
    store: &mut Store,
    ui: usize,
    copy_id: &str,
    response: &str,
    time: &str,
    now: Timestamp,
) {
    let Some(copy) = store.mailbox(ui).live(copy_id) else {
        return;
    };
    let ical = copy.str("iCalUId").unwrap_or("").to_owned();
    let organizer = copy
        .data
        .get("organizer")
        .and_then(|o| o.pointer("/emailAddress/address"))
        .and_then(Value::as_str)
        .and_then(|a| store.user_by_address(a));
    let Some(oi) = organizer.filter(|oi| *oi != ui && store.mailboxes[*oi].is_some()) else {
        return;
    };
    let me = &store.users[ui];
    let mine: Vec<String> = me
        .mail
        .iter()
        .chain(std::iter::once(&me.upn))
        .map(|a| a.to_lowercase())
        .collect();
    let target = store.mailbox(oi).items.values().find(|i| {
        !i.deleted
            && i.kind == ItemKind::Event
            && i.str("iCalUId") == Some(ical.as_str())
            && i.data.get("isOrganizer").and_then(Value::as_bool) == Some(true)
    });
    let Some(target) = target.map(|i| i.id.clone()) else {
        return;
    };
    let item = store
        .mailbox_mut(oi)
        .items
        .get_mut(&target)
        .expect("found above");
    let mut changed = false;
    if let Some(Value::Array(attendees)) = item.data.get_mut("attendees") {
        for a in attendees.iter_mut() {
            let addr = a
                .pointer("/emailAddress/address")
                .and_then(Value::as_str)
                .map(str::to_lowercase);
            if addr.is_some_and(|x| mine.contains(&x)) {
                a["status"] = json!({"response": response, "time": time});
                changed = true;
            }
        }
    }
    if changed {
        store.touch(oi, &target, now);
    }
}

/// `POST /messages/{id}/move`: the item keeps its immutable id and gets the regular id of its new
/// folder (so a client without `Prefer: IdType="ImmutableId"` sees a new id); the source folder's
/// delta reports it removed.
pub(super) fn move_message(store: &mut Store, ctx: &Ctx, ui: usize, id: &str) -> Resp {
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
    if store.move_message(ui, &item.id, &dest, ctx.now).is_none() {
        return err::not_found_item();
    }
    let Some(item) = store.mailbox(ui).live(&item.id) else {
        return err::not_found_item();
    };
    let body = render::item_json(item, &ctx.view);
    Resp::json(
        201,
        with_context(&entity_context(ctx, store, ui, ItemKind::Message), body),
    )
}

/// `POST /users/{id}/sendMail` and `POST /messages/{id}/send` (needs Mail.Send): the sent copy goes
/// to Sent Items and every internal recipient with a mailbox gets a copy in the inbox, all with the
/// same `internetMessageId` and `conversationId`. 202, no body.
pub(super) fn send_mail(store: &mut Store, ctx: &Ctx, ui: usize, draft: Option<&str>) -> Resp {
    if !ctx
        .token
        .roles
        .iter()
        .any(|r| r.eq_ignore_ascii_case("Mail.Send"))
    {
        return err::access_denied();
    }
    let (mut msg, save) = match draft {
        Some(id) => {
            let item = match find_item(store, ui, ItemKind::Message, id) {
                Ok(i) => i.clone(),
                Err(r) => return r,
            };
            if item.data.get("isDraft") != Some(&Value::Bool(true)) {
                return Resp::error(400, "ErrorInvalidOperation", "Only a draft can be sent.");
            }
            if let Err(r) = delete_item(store, ui, id, ctx.now) {
                return r;
            }
            (item.data, true)
        }
        None => {
            let body = ctx.req.body.clone().unwrap_or(Value::Null);
            let Some(Value::Object(msg)) = body.get("message").cloned() else {
                return err::bad_request("The message to send is required: {\"message\": {...}}.");
            };
            (
                msg,
                body.get("saveToSentItems") != Some(&Value::Bool(false)),
            )
        }
    };
    for k in [
        "id",
        "@odata.etag",
        "@odata.context",
        "changeKey",
        "createdDateTime",
        "lastModifiedDateTime",
        "parentFolderId",
        "webLink",
        "internetMessageHeaders",
    ] {
        msg.remove(k);
    }
    let user = store.users[ui].clone();
    let me = json!({"emailAddress": {"name": user.display_name, "address": user.mail.clone().unwrap_or(user.upn.clone())}});
    let now = super::calendar::fmt_instant(ctx.now);
    let mid = msg
        .get("internetMessageId")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("<{}@contoso.emulator>", store.guid()));
    let conversation = store.new_id(13);
    msg.insert("internetMessageId".into(), json!(mid));
    msg.insert("conversationId".into(), json!(conversation));
    msg.insert("from".into(), me.clone());
    msg.insert("sender".into(), me);
    msg.insert("receivedDateTime".into(), json!(now));
    msg.insert("sentDateTime".into(), json!(now));
    msg.insert("isDraft".into(), json!(false));
    let recipients: Vec<String> = ["toRecipients", "ccRecipients", "bccRecipients"]
        .iter()
        .filter_map(|k| msg.get(*k).and_then(Value::as_array))
        .flatten()
        .filter_map(|r| {
            r.pointer("/emailAddress/address")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect();
    if save {
        let sent = store
            .mailbox(ui)
            .mail_folder("sentitems")
            .expect("sentitems")
            .id
            .clone();
        let mut copy = msg.clone();
        copy.insert("isRead".into(), json!(true));
        store.create_message(ui, &sent, copy, false, ctx.now);
    }
    let mut delivered = Vec::new();
    for address in recipients {
        let Some(ri) = store.user_by_address(&address) else {
            continue;
        };
        if store.mailboxes[ri].is_none() || delivered.contains(&ri) {
            continue;
        }
        delivered.push(ri);
        let inbox = store
            .mailbox(ri)
            .mail_folder("inbox")
            .expect("inbox")
            .id
            .clone();
        let mut copy = msg.clone();
        copy.insert("isRead".into(), json!(false));
        copy.remove("bccRecipients");
        store.create_message(ri, &inbox, copy, false, ctx.now);
    }
    Resp {
        status: 202,
        headers: Vec::new(),
        body: None,
    }
}

/// Open extensions: `…/{id}/extensions[/{name}]`.
pub(super) fn extensions_route(
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

pub(super) const DRAFT_ONLY: [&str; 9] = [
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

pub(super) fn create(
    store: &mut Store,
    ctx: &Ctx,
    ui: usize,
    kind: ItemKind,
    container: &str,
) -> Resp {
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
