//! Delta rounds: opaque `$skiptoken`/`$deltatoken` values that carry the round's options, its
//! change-sequence window, a paging cursor and the sync-state generation.
//!
//! A round pages over units (items; for calendarView, an event or a whole series) ordered by id,
//! whose change sequence lies in `(since, until]`; `until` is frozen when the round starts, so
//! items changed meanwhile show up in the next round and nothing is skipped. Tokens older than the
//! retained generations, or evicted by a test, answer 410 `SyncStateNotFound`.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{
    calendar,
    http::{Req, Resp, err},
    ids, odata,
    recurrence::instances,
    render::{self, View},
    sealed,
    store::{Item, ItemKind, Store},
    wire::DeltaSettings,
};

/// What a delta request enumerates.
#[derive(Debug, Clone)]
pub enum Scope {
    Messages(String),
    Contacts(String),
    Tasks(String),
    CalendarView,
}

impl Scope {
    fn key(&self) -> String {
        match self {
            Scope::Messages(f) => format!("messages:{f}"),
            Scope::Contacts(f) => format!("contacts:{f}"),
            Scope::Tasks(l) => format!("tasks:{l}"),
            Scope::CalendarView => "calendarView".into(),
        }
    }
    fn kind(&self) -> ItemKind {
        match self {
            Scope::Messages(_) => ItemKind::Message,
            Scope::Contacts(_) => ItemKind::Contact,
            Scope::Tasks(_) => ItemKind::Task,
            Scope::CalendarView => ItemKind::Event,
        }
    }
    fn context(&self) -> &'static str {
        match self {
            Scope::Messages(_) => "Collection(message)",
            Scope::Contacts(_) => "Collection(contact)",
            Scope::Tasks(_) => "Collection(todoTask)",
            Scope::CalendarView => "Collection(event)",
        }
    }
    fn odata_type(&self) -> &'static str {
        match self {
            Scope::Messages(_) => "#microsoft.graph.message",
            Scope::Contacts(_) => "#microsoft.graph.contact",
            Scope::Tasks(_) => "#microsoft.graph.todoTask",
            Scope::CalendarView => "#microsoft.graph.event",
        }
    }
    fn holds(&self, item: &Item) -> bool {
        item.kind == self.kind()
            && match self {
                Scope::Messages(f) | Scope::Contacts(f) | Scope::Tasks(f) => &item.container == f,
                Scope::CalendarView => true,
            }
    }
}

/// Options frozen in a token.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Opts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    select: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expand: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    filter: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    change_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    start: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    end: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    top: Option<usize>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Token {
    u: String,
    s: String,
    g: u64,
    since: u64,
    until: u64,
    initial: bool,
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    primed: bool,
    /// Units sent so far in an initial round (for the 5,000-message cap of a filtered round).
    #[serde(default)]
    n: usize,
    o: Opts,
}

fn encode(t: &Token) -> String {
    sealed::seal(&serde_json::to_vec(t).expect("token serializes"))
}

fn decode(s: &str) -> Option<Token> {
    serde_json::from_slice(&sealed::open(s)?).ok()
}

/// Parses a window bound: an RFC 3339 instant, or a local date-time taken as UTC.
pub fn parse_bound(s: &str) -> Option<Timestamp> {
    s.parse::<Timestamp>().ok().or_else(|| {
        calendar::parse_local(s).and_then(|dt| jiff::tz::TimeZone::UTC.to_timestamp(dt).ok())
    })
}

fn gone(g: u64, highest: u64) -> Resp {
    Resp::error(
        410,
        "SyncStateNotFound",
        format!(
            "The sync state generation is not found; generation={g};[highest={highest}][lowestAvailable={highest}]"
        ),
    )
}

/// Handles `…/delta` for one scope of mailbox `ui`.
pub fn delta(
    store: &mut Store,
    ui: usize,
    req: &Req,
    scope: Scope,
    settings: &DeltaSettings,
    graph_base: &str,
    basic: bool,
) -> Resp {
    let user_id = store.users[ui].id.clone();
    let key = scope.key();
    let skip = req.param("$skiptoken");
    let dtok = req.param("$deltatoken");
    let mut tok = match (skip, dtok) {
        (Some(t), _) | (_, Some(t)) => {
            let Some(mut tok) = decode(t) else {
                return Resp::error(
                    400,
                    "ErrorInvalidUrlQuery",
                    "The delta or skip token is malformed.",
                );
            };
            // A calendarView token names its window in its key: each window is its own sync state.
            let same_scope = tok.s == key
                || (matches!(scope, Scope::CalendarView) && tok.s.starts_with(&format!("{key}:")));
            if tok.u != user_id || !same_scope {
                return Resp::error(
                    400,
                    "ErrorInvalidUrlQuery",
                    "The token does not belong to this resource.",
                );
            }
            let gen_state = store
                .mailbox_mut(ui)
                .generations
                .entry(tok.s.clone())
                .or_default();
            let retained = if skip.is_some() {
                settings.retained_next_link_generations
            } else {
                settings.retained_generations
            };
            if tok.g < gen_state.evicted_below || gen_state.current.saturating_sub(tok.g) > retained
            {
                return gone(tok.g, gen_state.current);
            }
            if dtok.is_some() && skip.is_none() {
                // The round started from this deltaLink is the newest sync state: its nextLinks
                // carry the current generation, not the (possibly older) deltaLink's.
                tok.g = gen_state.current;
                tok.since = tok.until;
                tok.until = store.seq;
                tok.initial = false;
                tok.cursor = None;
                tok.primed = true;
            }
            tok
        }
        (None, None) => match fresh(store, ui, req, &scope, &key) {
            Ok(t) => t,
            Err(r) => return r,
        },
    };
    let key = tok.s.clone();
    let context = format!("{graph_base}/$metadata#{}", scope.context());
    let link_base = format!("{graph_base}{}", req.raw_path);
    if !tok.primed && settings.empty_first_page {
        tok.primed = true;
        let mut body = Map::new();
        body.insert("@odata.context".into(), json!(context));
        body.insert(
            "@odata.nextLink".into(),
            json!(format!("{link_base}?$skiptoken={}", encode(&tok))),
        );
        body.insert("value".into(), json!([]));
        return Resp::ok(Value::Object(body));
    }
    tok.primed = true;
    let prefer = req.prefer();
    let page = prefer
        .max_page_size
        .or(tok.o.top)
        .unwrap_or(settings.default_page_size)
        .clamp(1, 1000);
    let expand = match render::parse_expand(tok.o.expand.as_deref()) {
        Ok(e) => e,
        Err(m) => return err::bad_request(m),
    };
    let view = View {
        tz: prefer.timezone.clone(),
        body_type: prefer.body_content_type.clone(),
        select: odata::select_list(tok.o.select.as_deref()),
        expand,
        basic,
    };
    let filter = tok.o.filter.as_deref().and_then(|f| odata::parse(f).ok());
    let mb = store.mailbox(ui);
    let mut values: Vec<Value> = Vec::new();
    let mut units = 0usize;
    let mut last: Option<String> = None;
    let mut more = false;
    // Graph caps a round filtered on receivedDateTime at 5,000 messages.
    let cap = (tok.initial && tok.o.filter.is_some() && matches!(scope, Scope::Messages(_)))
        .then(|| MESSAGE_FILTER_CAP.saturating_sub(tok.n));
    let page = cap.map_or(page, |c| page.min(c));
    let range: Box<dyn Iterator<Item = (&String, &Item)>> = match &tok.cursor {
        Some(c) => Box::new(mb.items.range(c.clone()..)),
        None => Box::new(mb.items.iter()),
    };
    for (id, item) in range {
        if !scope.holds(item) {
            continue;
        }
        let is_cursor = tok.cursor.as_deref() == Some(id.as_str());
        if is_cursor && !settings.repeat_last_item {
            continue;
        }
        let entries = unit_entries(item, &tok, &scope, &view, filter.as_ref());
        if entries.is_empty() {
            continue;
        }
        if !is_cursor && units >= page {
            more = cap.is_none_or(|c| units < c);
            break;
        }
        values.extend(entries);
        if !is_cursor {
            units += 1;
            last = Some(id.clone());
        }
    }
    let mut body = Map::new();
    body.insert("@odata.context".into(), json!(context));
    if !more
        && !tok.initial
        && let Scope::Messages(folder) = &scope
    {
        // Messages moved out of this folder keeping their (immutable) id.
        for (id, from, seq) in &store.mailbox(ui).departures {
            let back = store
                .mailbox(ui)
                .live(id)
                .is_some_and(|i| &i.container == folder);
            if from == folder && *seq > tok.since && *seq <= tok.until && !back {
                // Without immutable ids the client knows it by its regular id in this folder.
                let shown = match prefer.immutable_id {
                    true => None,
                    false => ids::regular(id, from),
                };
                values.push(removed(&scope, shown.as_deref().unwrap_or(id)));
            }
        }
    }
    if more {
        let mut next = tok.clone();
        next.cursor = last.or(tok.cursor.clone());
        next.n = tok.n + units;
        body.insert(
            "@odata.nextLink".into(),
            json!(format!("{link_base}?$skiptoken={}", encode(&next))),
        );
    } else {
        let gen_state = store.mailbox_mut(ui).generations.entry(key).or_default();
        gen_state.current += 1;
        let done = Token {
            g: gen_state.current,
            since: tok.until,
            until: tok.until,
            initial: false,
            cursor: None,
            primed: true,
            ..tok.clone()
        };
        body.insert(
            "@odata.deltaLink".into(),
            json!(format!("{link_base}?$deltatoken={}", encode(&done))),
        );
    }
    body.insert("value".into(), Value::Array(values));
    // `Preference-Applied` is added once for the whole response by the router.
    Resp::ok(Value::Object(body))
}

/// Delta over a mailbox's folders or To Do lists: `entries` are (creation sequence, JSON). Folders
/// cannot be created or deleted here, so later rounds carry only new To Do lists.
#[allow(clippy::too_many_arguments)]
pub fn collection_delta(
    store: &mut Store,
    ui: usize,
    req: &Req,
    key: &str,
    entries: Vec<(u64, Value)>,
    context: &str,
    settings: &DeltaSettings,
    graph_base: &str,
) -> Resp {
    let user_id = store.users[ui].id.clone();
    let tok = match req.param("$deltatoken").or(req.param("$skiptoken")) {
        Some(t) => {
            let Some(tok) = decode(t).filter(|t| t.u == user_id && t.s == key) else {
                return Resp::error(
                    400,
                    "ErrorInvalidUrlQuery",
                    "The delta token is malformed or belongs to another resource.",
                );
            };
            let gen_state = store
                .mailbox_mut(ui)
                .generations
                .entry(key.to_owned())
                .or_default();
            if tok.g < gen_state.evicted_below
                || gen_state.current.saturating_sub(tok.g) > settings.retained_generations
            {
                return gone(tok.g, gen_state.current);
            }
            tok
        }
        None => Token {
            u: user_id,
            s: key.to_owned(),
            g: 0,
            since: 0,
            until: 0,
            initial: true,
            cursor: None,
            primed: true,
            n: 0,
            o: Opts::default(),
        },
    };
    let until = store.seq;
    let value: Vec<Value> = entries
        .into_iter()
        // A full round lists what exists; tombstones only tell later rounds what went.
        .filter(|(seq, v)| match tok.initial {
            true => v.get("@removed").is_none(),
            false => *seq > tok.since && *seq <= until,
        })
        .map(|(_, v)| v)
        .collect();
    let gen_state = store
        .mailbox_mut(ui)
        .generations
        .entry(key.to_owned())
        .or_default();
    gen_state.current += 1;
    let next = Token {
        g: gen_state.current,
        since: until,
        until,
        initial: false,
        ..tok
    };
    Resp::ok(json!({
        "@odata.context": format!("{graph_base}/$metadata#{context}"),
        "@odata.deltaLink": format!("{graph_base}{}?$deltatoken={}", req.raw_path, encode(&next)),
        "value": value,
    }))
}

fn fresh(store: &mut Store, ui: usize, req: &Req, scope: &Scope, key: &str) -> Result<Token, Resp> {
    let mut key = key.to_owned();
    let mut o = Opts {
        select: req.param("$select").map(str::to_owned),
        expand: req.param("$expand").map(str::to_owned),
        filter: req.param("$filter").map(str::to_owned),
        change_type: req.param("changeType").map(str::to_owned),
        top: req.param("$top").and_then(|t| t.parse().ok()),
        ..Opts::default()
    };
    match scope {
        Scope::CalendarView => {
            for p in ["$select", "$expand", "$filter", "$orderby", "$search"] {
                if req.param(p).is_some() {
                    return Err(Resp::error(
                        400,
                        "ErrorInvalidUrlQuery",
                        format!(
                            "The following parameters are not supported with change tracking over the 'CalendarView' resource: '{p}'."
                        ),
                    ));
                }
            }
            let (Some(s), Some(e)) = (req.param("startDateTime"), req.param("endDateTime")) else {
                return Err(Resp::error(
                    400,
                    "ErrorInvalidParameter",
                    "This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.",
                ));
            };
            let (Some(s), Some(e)) = (parse_bound(s), parse_bound(e)) else {
                return Err(Resp::error(
                    400,
                    "ErrorInvalidParameter",
                    "StartDateTime and EndDateTime must be date-times such as 2025-01-01T00:00:00Z.",
                ));
            };
            if e <= s {
                return Err(err::invalid_request(
                    "EndDateTime must be after StartDateTime.",
                ));
            }
            check_window_days(s, e)?;
            o.start = Some(s.as_second());
            o.end = Some(e.as_second());
            key = format!("{key}:{}:{}", s.as_second(), e.as_second());
        }
        Scope::Messages(_) => {
            if let Some(f) = &o.filter {
                let ok = odata::parse(f).ok().is_some_and(|e| match e {
                    odata::Expr::Cmp(p, op, _) => {
                        p.eq_ignore_ascii_case("receivedDateTime") && (op == "ge" || op == "gt")
                    }
                    _ => false,
                });
                if !ok {
                    return Err(Resp::error(
                        400,
                        "ErrorInvalidUrlQueryFilter",
                        "The query filter contains one or more invalid nodes. Delta on messages supports only receivedDateTime ge|gt {value}.",
                    ));
                }
            }
            if let Some(ob) = req.param("$orderby")
                && !ob.trim().eq_ignore_ascii_case("receivedDateTime desc")
            {
                return Err(Resp::error(
                    400,
                    "ErrorInvalidUrlQuery",
                    "Delta on messages supports only $orderby=receivedDateTime desc.",
                ));
            }
            if let Some(ct) = &o.change_type
                && !matches!(ct.as_str(), "created" | "updated" | "deleted")
            {
                return Err(Resp::error(
                    400,
                    "ErrorInvalidUrlQuery",
                    format!("changeType `{ct}` is not one of created, updated, deleted."),
                ));
            }
            if req.param("$search").is_some() {
                return Err(Resp::error(
                    400,
                    "ErrorInvalidUrlQuery",
                    "$search is not supported with delta.",
                ));
            }
        }
        Scope::Contacts(_) | Scope::Tasks(_) => {
            if o.filter.is_some() {
                return Err(Resp::error(
                    400,
                    "ErrorInvalidUrlQuery",
                    "$filter is not supported with delta on this resource.",
                ));
            }
        }
    }
    if let Some(e) = &o.expand {
        render::parse_expand(Some(e)).map_err(err::bad_request)?;
    }
    let g = store
        .mailbox_mut(ui)
        .generations
        .entry(key.clone())
        .or_default()
        .current;
    Ok(Token {
        u: store.users[ui].id.clone(),
        s: key,
        g,
        since: 0,
        until: store.seq,
        initial: true,
        cursor: None,
        primed: false,
        n: 0,
        o,
    })
}

const MESSAGE_FILTER_CAP: usize = 5000;

/// Graph's cap on a calendar view window (plain `/calendarView` and its delta): 1,825 days.
pub fn check_window_days(start: Timestamp, end: Timestamp) -> Result<(), Resp> {
    if end.duration_since(start).as_secs() > 1825 * 86_400 {
        return Err(err::invalid_request(
            "The number of days between StartDateTime and EndDateTime exceeds the maximum. Maximum number of days: 1825",
        ));
    }
    Ok(())
}

fn removed(scope: &Scope, id: &str) -> Value {
    json!({"@odata.type": scope.odata_type(), "id": id, "@removed": {"reason": "deleted"}})
}

fn unit_entries(
    item: &Item,
    tok: &Token,
    scope: &Scope,
    view: &View,
    filter: Option<&odata::Expr>,
) -> Vec<Value> {
    let in_range = if tok.initial {
        !item.deleted && item.seq <= tok.until
    } else {
        item.seq > tok.since && item.seq <= tok.until
    };
    if !in_range {
        return Vec::new();
    }
    if let Some(ct) = tok.o.change_type.as_deref()
        && !tok.initial
    {
        let created = item.created_seq > tok.since;
        let keep = match ct {
            "created" => created && !item.deleted,
            "updated" => !created && !item.deleted,
            "deleted" => item.deleted,
            _ => true,
        };
        if !keep {
            return Vec::new();
        }
    } else if tok.o.change_type.as_deref() == Some("deleted") {
        return Vec::new();
    }
    let typed = |mut m: Map<String, Value>| {
        let mut out = Map::new();
        out.insert("@odata.type".into(), json!(scope.odata_type()));
        out.append(&mut m);
        Value::Object(out)
    };
    match scope {
        Scope::CalendarView => {
            let (Some(s), Some(e)) = (tok.o.start, tok.o.end) else {
                return Vec::new();
            };
            let (Ok(from), Ok(to)) = (Timestamp::from_second(s), Timestamp::from_second(e)) else {
                return Vec::new();
            };
            if item.is_master() {
                let inst = instances(item, from, to);
                if item.deleted {
                    let mut out: Vec<Value> = inst.iter().map(|i| removed(scope, &i.id)).collect();
                    out.push(removed(scope, &item.id));
                    return if tok.initial { Vec::new() } else { out };
                }
                if inst.is_empty() {
                    return if tok.initial {
                        Vec::new()
                    } else {
                        vec![removed(scope, &item.id)]
                    };
                }
                let mut out = vec![typed(render::item_json(item, view))];
                for i in &inst {
                    out.push(typed(render::instance_json(item, i, view, true)));
                }
                out
            } else {
                if item.deleted {
                    return vec![removed(scope, &item.id)];
                }
                let (Some(s), Some(e)) = (
                    item.data.get("start").and_then(calendar::instant_of),
                    item.data.get("end").and_then(calendar::instant_of),
                ) else {
                    return Vec::new();
                };
                let inside = s < to && (e > from || (e == s && s >= from));
                if inside {
                    vec![typed(render::item_json(item, view))]
                } else if tok.initial {
                    Vec::new()
                } else {
                    vec![removed(scope, &item.id)]
                }
            }
        }
        _ => {
            if item.deleted {
                return vec![removed(scope, &item.id)];
            }
            if let Some(f) = filter
                && !f.eval(&render::filter_view(item))
            {
                return Vec::new();
            }
            let m = render::item_json(item, view);
            match scope {
                Scope::Messages(_) => vec![typed(m)],
                _ => vec![Value::Object(m)],
            }
        }
    }
}
