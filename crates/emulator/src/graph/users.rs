//! Directory routes: `/users` (paging, `$select`, `$filter`, the ConsistencyLevel rule), one user, and
//! `mailboxSettings`.

use serde_json::{Map, Value, json};

use super::{
    http::{Req, Resp, err, with_context},
    odata, sealed,
    store::{self, Store},
    wire::{Ctx, Shared},
};

pub(super) fn mailbox_settings(store: &Store, ctx: &Ctx, ui: usize, sub: Option<&str>) -> Resp {
    let all = settings_json(store, ui);
    let base = format!(
        "{}/$metadata#users('{}')/mailboxSettings",
        ctx.shared.graph_base(),
        store.users[ui].id
    );
    render_settings(ctx, all, &base, sub)
}

/// The whole mailboxSettings object: defaults, the user's time zone, then what PATCH wrote.
fn settings_json(store: &Store, ui: usize) -> Map<String, Value> {
    let tz = store.users[ui].time_zone.clone();
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
    for (k, v) in &store.mailbox(ui).settings {
        all.insert(k.clone(), v.clone());
    }
    all
}

fn render_settings(ctx: &Ctx, mut all: Map<String, Value>, base: &str, sub: Option<&str>) -> Resp {
    match sub {
        None => {
            if let Some(sel) = &ctx.view.select {
                all.retain(|k, _| sel.iter().any(|s| s.eq_ignore_ascii_case(k)));
                return Resp::ok(with_context(&format!("{base}({})", sel.join(",")), all));
            }
            Resp::ok(with_context(base, all))
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

/// Sub-properties of a complex mailboxSettings property, each with its allowed values (empty:
/// any value).
type SubProperties = &'static [(&'static str, &'static [&'static str])];

/// The mailboxSettings properties a PATCH may write, with the sub-properties of the complex
/// ones (`None`: a plain string) and, for enum-typed sub-properties, their allowed values.
const WRITABLE_SETTINGS: &[(&str, Option<SubProperties>)] = &[
    (
        "automaticRepliesSetting",
        Some(&[
            ("status", &["disabled", "alwaysEnabled", "scheduled"]),
            ("externalAudience", &["none", "contactsOnly", "all"]),
            ("scheduledStartDateTime", &[]),
            ("scheduledEndDateTime", &[]),
            ("internalReplyMessage", &[]),
            ("externalReplyMessage", &[]),
        ]),
    ),
    ("timeZone", None),
    ("language", Some(&[("locale", &[]), ("displayName", &[])])),
    ("dateFormat", None),
    ("timeFormat", None),
    (
        "workingHours",
        Some(&[
            ("daysOfWeek", &[]),
            ("startTime", &[]),
            ("endTime", &[]),
            ("timeZone", &[]),
        ]),
    ),
    ("delegateMeetingMessageDeliveryOptions", None),
];

fn body_read(message: impl Into<String>) -> Resp {
    Resp::error(400, "RequestBodyRead", message)
}

/// `PATCH /users/{id}/mailboxSettings` (MailboxSettings.ReadWrite, checked by the router):
/// validates every property first, then applies them all; answers 200 with the written
/// properties, whole (a complex property merges the sub-properties sent into its current value).
pub(super) fn update_mailbox_settings(store: &mut Store, ctx: &Ctx, ui: usize) -> Resp {
    let Some(Value::Object(body)) = ctx.req.body.as_ref() else {
        return body_read("The request body must be a JSON object of mailboxSettings properties.");
    };
    let current = settings_json(store, ui);
    let mut written = Map::new();
    for (key, value) in body {
        if key.starts_with('@') {
            continue;
        }
        let Some((name, subs)) = WRITABLE_SETTINGS
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(key))
        else {
            if current.keys().any(|k| k.eq_ignore_ascii_case(key)) {
                return err::invalid_request(format!(
                    "The property '{key}' of mailboxSettings is read-only and cannot be updated."
                ));
            }
            return body_read(format!(
                "The property '{key}' does not exist on type 'microsoft.graph.mailboxSettings'. Make sure to only use property names that are defined by the type or mark the type as open type."
            ));
        };
        let new = match (subs, value) {
            (None, Value::String(text)) => {
                if *name == "timeZone" && super::calendar::zone(text).is_none() {
                    return Resp::error(
                        400,
                        "TimeZoneNotSupportedException",
                        format!(
                            "A valid TimeZone value must be specified. The following TimeZone value is not supported: '{text}'."
                        ),
                    );
                }
                Value::String(text.clone())
            }
            (Some(subs), Value::Object(patch)) => {
                let mut merged = match current.get(*name) {
                    Some(Value::Object(o)) => o.clone(),
                    _ => Map::new(),
                };
                for (sub, v) in patch {
                    if sub.starts_with('@') {
                        continue;
                    }
                    let Some((sub_name, allowed)) =
                        subs.iter().find(|(n, _)| n.eq_ignore_ascii_case(sub))
                    else {
                        return body_read(format!(
                            "The property '{sub}' does not exist on the type of mailboxSettings.{name}. Make sure to only use property names that are defined by the type."
                        ));
                    };
                    if !allowed.is_empty() {
                        let Some(found) = v
                            .as_str()
                            .and_then(|t| allowed.iter().find(|a| a.eq_ignore_ascii_case(t)))
                        else {
                            return body_read(format!(
                                "Cannot convert the literal '{}' to the expected type of mailboxSettings.{name}.{sub_name}: expected one of {}.",
                                v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                                allowed.join(", ")
                            ));
                        };
                        merged.insert((*sub_name).to_owned(), json!(found));
                        continue;
                    }
                    if sub_name.ends_with("DateTime") {
                        let local = v
                            .get("dateTime")
                            .and_then(Value::as_str)
                            .and_then(super::calendar::parse_local);
                        let zone = v.get("timeZone").and_then(Value::as_str).unwrap_or("UTC");
                        let (Some(local), Some(_)) = (local, super::calendar::zone(zone)) else {
                            return body_read(format!(
                                "mailboxSettings.{name}.{sub_name}: expected a dateTimeTimeZone object such as {{\"dateTime\": \"2026-12-24T08:00:00\", \"timeZone\": \"UTC\"}}, found {v}."
                            ));
                        };
                        merged.insert(
                            (*sub_name).to_owned(),
                            json!({"dateTime": super::calendar::fmt_local(local), "timeZone": zone}),
                        );
                        continue;
                    }
                    merged.insert((*sub_name).to_owned(), v.clone());
                }
                Value::Object(merged)
            }
            (None, other) => {
                return body_read(format!(
                    "mailboxSettings.{name}: expected a string, found {other}."
                ));
            }
            (Some(_), other) => {
                return body_read(format!(
                    "mailboxSettings.{name}: expected an object, found {other}."
                ));
            }
        };
        written.insert((*name).to_owned(), new);
    }
    for (name, value) in &written {
        if name == "timeZone" {
            store.users[ui].time_zone = value.as_str().unwrap_or_default().to_owned();
        } else {
            store
                .mailbox_mut(ui)
                .settings
                .insert(name.clone(), value.clone());
        }
    }
    let base = format!(
        "{}/$metadata#users('{}')/mailboxSettings",
        ctx.shared.graph_base(),
        store.users[ui].id
    );
    Resp::ok(with_context(&base, written))
}

#[derive(serde::Serialize, serde::Deserialize, Default)]
pub(super) struct UserPage {
    offset: usize,
    filter: Option<String>,
    select: Option<String>,
    top: usize,
    count: bool,
}

pub(super) fn list_users(store: &Store, shared: &Shared, req: &Req) -> Resp {
    let page = match req.param("$skiptoken") {
        Some(t) => {
            match sealed::open(t).and_then(|raw| serde_json::from_slice::<UserPage>(&raw).ok()) {
                Some(p) => p,
                None => {
                    return Resp::error(
                        400,
                        "Request_BadRequest",
                        "The specified page token value has expired and can no longer be included in your request.",
                    );
                }
            }
        }
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
        .filter(|u| !u.deleted)
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
        let tok = sealed::seal(&serde_json::to_vec(&next).expect("serializes"));
        body.insert(
            "@odata.nextLink".into(),
            json!(format!("{}/users?$skiptoken={tok}", shared.graph_base())),
        );
    }
    body.insert("value".into(), Value::Array(values));
    Resp::ok(Value::Object(body))
}

pub(super) fn project_user(u: Map<String, Value>, select: Option<&[String]>) -> Map<String, Value> {
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

pub(super) fn get_user(store: &Store, shared: &Shared, req: &Req, key: &str) -> Resp {
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
