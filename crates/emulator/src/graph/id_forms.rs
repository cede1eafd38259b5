//! The two id forms on the wire: a response's ids in the form the caller asked for with
//! `Prefer: IdType="ImmutableId"` (regular ids otherwise), which requests count as asking for
//! none, and `translateExchangeIds`. The encoding itself is in `ids`.

use serde_json::{Value, json};

use super::{
    http::{Req, Resp, err},
    store::Store,
    wire::Ctx,
};

/// Gives a client that did not send `Prefer: IdType="ImmutableId"` the regular ids of the items in
/// a response (`id`, `seriesMasterId`), as Exchange does: ids that change when an item moves.
pub(super) fn regularize(store: &Store, ui: usize, v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                match (k.as_str(), &*x) {
                    ("id" | "seriesMasterId", Value::String(id)) => {
                        if let Some(regular) = store.regular_id(ui, id) {
                            *x = Value::String(regular);
                        }
                    }
                    _ => regularize(store, ui, x),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| regularize(store, ui, x)),
        _ => {}
    }
}

/// Whether a request reads or writes Outlook items, whose ids have a regular and an immutable form
/// (messages, events, contacts), or creates a subscription (its notifications carry item ids).
pub(super) fn takes_item_ids(req: &Req) -> bool {
    let low = |i: usize| req.segments.get(i).map(|s| s.to_ascii_lowercase());
    match low(0).as_deref() {
        Some("users") => matches!(
            low(2).as_deref(),
            Some(
                "mailfolders"
                    | "messages"
                    | "events"
                    | "calendar"
                    | "calendars"
                    | "calendarview"
                    | "contacts"
                    | "contactfolders"
            )
        ),
        Some("subscriptions") => req.method == "POST" && req.segments.len() == 1,
        _ => false,
    }
}

/// `POST /users/{id}/translateExchangeIds`: EWS ids use standard base64 (`+`, `/`), REST ids
/// URL-safe base64 (`-`, `_`); `restId` (and `ewsId`) is the regular id of the item's folder now,
/// `restImmutableEntryId` the immutable id. An id that does not name an item of the mailbox gets
/// `errorDetails` instead of a `targetId`.
pub(super) fn translate_ids(store: &Store, ctx: &Ctx, ui: usize) -> Resp {
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
    let known = |t: &str| matches!(t, "ewsid" | "restid" | "restimmutableentryid");
    if !known(&from) || !known(&to) {
        return err::bad_request(
            "sourceIdType and targetIdType must be ewsId, restId or restImmutableEntryId in the emulator.",
        );
    }
    let value: Vec<Value> = ids
        .iter()
        .filter_map(Value::as_str)
        .map(|id| {
            let rest = match from.as_str() {
                "ewsid" => id.replace('+', "-").replace('/', "_"),
                _ => id.to_owned(),
            };
            let immutable = store
                .resolve_regular_id(ui, &rest)
                .or_else(|| store.regular_id(ui, &rest).map(|_| rest.clone()));
            let target = immutable.and_then(|imm| match to.as_str() {
                "restimmutableentryid" => Some(imm),
                "restid" => store.regular_id(ui, &imm),
                _ => store
                    .regular_id(ui, &imm)
                    .map(|r| r.replace('-', "+").replace('_', "/")),
            });
            match target {
                Some(t) => json!({"sourceId": id, "targetId": t}),
                None => {
                    json!({"sourceId": id, "errorDetails": {"code": "ErrorItemNotFound", "message": "The specified object was not found in the store."}})
                }
            }
        })
        .collect();
    Resp::ok(
        json!({"@odata.context": format!("{}/$metadata#Collection(microsoft.graph.convertIdResult)", ctx.shared.graph_base()), "value": value}),
    )
}
