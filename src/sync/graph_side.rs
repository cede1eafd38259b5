//! The Graph side of one mailbox and resource: delta rounds over its scopes (calendar window, mail folders
//! and their subfolders, the default and the connector's contact folder, To Do list), then the items mapped to planner changes.
//!
//! Rules kept here (docs/sync-rules.md):
//! - a round's cursor is persisted only by `commit_round`, after its changes were applied;
//! - a 410 restarts the scope's round and drops what the abandoned round had read;
//! - "not seen" and `@removed` never mean "deleted" on their own: a linked item is fetched, and only a
//!   404 is a removal — an item that left the window or moved folder is still there;
//! - sparse calendar occurrences take their properties from the series master;
//! - calendar items the connector wrote for CRM absences are not appointments.

use std::collections::{HashMap, HashSet};

use indexmap::IndexMap;
use jiff::{Timestamp, tz::TimeZone};
use serde_json::Value;

use crate::{
    mapping::{Context, FieldKind, FieldValue, selected, time::resolve_time_zone, to_crm},
    plan::{
        Changes, Content, Correlation, Fields, GraphChange, GraphKind, Organizer, Series,
        content_hash,
    },
    state::Link,
    transport::graph::{
        DeltaResource, DeltaScope, ItemKind, ItemRef, delta::DeltaRound, types::WellknownListName,
    },
};

use super::{
    CycleOptions, Engine, ResourceSpec, SyncError, contact_folder, crm_side::CrmRead, mail_folders,
    roster::Roster, roster::RosterEntry,
};

/// Everything read from Graph for one mailbox and resource.
#[derive(Debug, Default)]
pub struct GraphRead {
    /// Items present in the mailbox (created, changed, or fetched after a removal), by id; occurrences
    /// merged with their master.
    pub items: IndexMap<String, Value>,
    /// Items that are in the mailbox but left the scope (window, folder): never a delete.
    pub outside: HashSet<String>,
    /// Linked items that are gone (a fetch answered 404).
    pub removed: Vec<String>,
    /// Cursors to persist after the round's changes are applied: (scope, value).
    pub cursors: Vec<(String, String)>,
    /// Cursors to forget with them (mail subfolders that are gone).
    pub forget: Vec<String>,
    /// Ids the runner must leave alone (calendar items written for absences).
    pub ignore: HashSet<String>,
    /// The To Do list of the mailbox (tasks only).
    pub list_id: Option<String>,
    /// The contact folder new contacts go to (contacts only; `None`: the default folder).
    pub contact_folder: Option<String>,
    /// The planner's changes, filled by [`map_changes`].
    pub changes: Vec<GraphChange>,
    /// Mapping warnings by item.
    pub warnings: Vec<String>,
}

/// The calendar window of a mailbox: from the start of today (in the mailbox's zone) minus `past` to the
/// end of today plus `future`; re-anchored daily, so a new day starts a new full round.
pub fn window(
    engine: &Engine,
    entry: &RosterEntry,
    now: Timestamp,
    past: std::time::Duration,
    future: std::time::Duration,
) -> (Timestamp, Timestamp) {
    let zone_name = entry
        .decision
        .time_zone
        .clone()
        .unwrap_or_else(|| engine.settings.crm_time_zone.clone());
    let zone = resolve_time_zone(&zone_name).unwrap_or(TimeZone::UTC);
    let today = zone.to_datetime(now).date();
    let start_of = |d: jiff::civil::Date| {
        zone.to_timestamp(d.to_datetime(jiff::civil::Time::midnight()))
            .unwrap_or(now)
    };
    let start = start_of(today)
        .checked_sub(jiff::SignedDuration::try_from(past).unwrap_or_default())
        .unwrap_or(now);
    let end = start_of(today.tomorrow().unwrap_or(today))
        .checked_add(jiff::SignedDuration::try_from(future).unwrap_or_default())
        .unwrap_or(now);
    (start, end)
}

/// Reads every scope of the resource in this mailbox.
pub async fn read(
    engine: &Engine,
    spec: &ResourceSpec,
    entry: &RosterEntry,
    links: &[Link],
    options: CycleOptions,
) -> Result<GraphRead, SyncError> {
    let mut read = GraphRead::default();
    if !spec.policy.graph_to_crm() && spec.kind != ItemKind::Task && spec.kind != ItemKind::Contact
    {
        // CRM → Graph only (absences): nothing to read; the To Do list is still needed for creates.
        return Ok(read);
    }
    let mailbox = entry.graph_user().to_owned();
    if spec.name == "event" {
        let absences = engine
            .state
            .list_links(entry.mailbox_id(), "absence")
            .await
            .map_err(SyncError::state)?;
        read.ignore = absences.into_iter().map(|l| l.graph_id).collect();
    }
    let (scopes, folder_cursor) = scopes(engine, spec, entry, &mut read, options).await?;
    if !spec.policy.graph_to_crm() {
        return Ok(read);
    }
    // A folder that went away: the messages linked there are fetched below, only a 404 removes.
    let mut full = !read.forget.is_empty();
    let mut removed: Vec<String> = Vec::new();
    for (name, resource, window_tag, first_read) in scopes {
        let stored = engine
            .state
            .get_cursor(entry.mailbox_id(), &spec.name, &name)
            .await
            .map_err(SyncError::state)?;
        let link = stored.and_then(|value| match &window_tag {
            // The window is frozen in the token: a new day's window needs a new full round.
            Some(tag) => value.strip_prefix(&format!("{tag}|")).map(str::to_owned),
            None => Some(value),
        });
        let scope = DeltaScope {
            mailbox: mailbox.clone(),
            resource,
        };
        let mut round = DeltaRound::new(scope, link);
        let mut seen_here: IndexMap<String, Value> = IndexMap::new();
        let mut removed_here: Vec<(String, String)> = Vec::new();
        while let Some(page) = round
            .next_page(engine.graph.as_ref())
            .await
            .map_err(SyncError::graph)?
        {
            if page.restarted.is_some() {
                seen_here.clear();
                removed_here.clear();
            }
            for change in page.changes {
                match change {
                    crate::transport::graph::DeltaChange::Upsert(item) => {
                        let id = item.id().to_owned();
                        removed_here.retain(|(r, _)| *r != id);
                        seen_here.insert(id, item.to_json());
                    }
                    crate::transport::graph::DeltaChange::Removed { id, reason } => {
                        seen_here.shift_remove(&id);
                        removed_here.push((id, reason));
                    }
                }
            }
        }
        let outcome = round.finish();
        // A subfolder read for the first time lists what it holds; it says nothing about the others.
        full |= outcome.kind.is_full() && !first_read;
        let value = match &window_tag {
            Some(tag) => format!("{tag}|{}", outcome.delta_link),
            None => outcome.delta_link.clone(),
        };
        read.cursors.push((name, value));
        for (id, item) in seen_here {
            read.items.insert(id, item);
        }
        removed.extend(removed_here.into_iter().map(|(id, _reason)| id));
    }
    // After every scope: a message moved between two read folders is in the other one's round.
    for id in removed {
        if !read.items.contains_key(&id)
            && !read.removed.contains(&id)
            && links.iter().any(|l| l.graph_id == id)
        {
            check_gone(engine, spec, &mailbox, &id, &mut read).await?;
        }
    }
    // The folder delta's cursor goes last, so a crash between cursors re-reads the folder trees.
    read.cursors.extend(folder_cursor);
    if full {
        // A full round lists everything in scope: a linked item it did not list is fetched.
        let missing: Vec<String> = links
            .iter()
            .filter(|l| !read.items.contains_key(&l.graph_id))
            .filter(|l| !read.removed.contains(&l.graph_id) && !read.outside.contains(&l.graph_id))
            .map(|l| l.graph_id.clone())
            .collect();
        for id in missing {
            check_gone(engine, spec, &mailbox, &id, &mut read).await?;
        }
    }
    fill_occurrences(engine, spec, &mailbox, &mut read).await?;
    Ok(read)
}

/// A scope to read: (state scope name, delta resource, window tag for calendars, a mail subfolder read
/// for the first time).
type Scope = (String, DeltaResource, Option<String>, bool);

/// The scopes to read, and the mail folder delta's cursor.
async fn scopes(
    engine: &Engine,
    spec: &ResourceSpec,
    entry: &RosterEntry,
    read: &mut GraphRead,
    options: CycleOptions,
) -> Result<(Vec<Scope>, Option<(String, String)>), SyncError> {
    let mailbox = entry.graph_user();
    if spec.kind == ItemKind::Message {
        let mail = mail_folders::scopes(engine, entry).await?;
        read.forget = mail.forget;
        let scopes = mail
            .scopes
            .into_iter()
            .map(|(name, resource, first)| (name, resource, None, first))
            .collect();
        return Ok((scopes, mail.cursor));
    }
    let scopes = match spec.kind {
        ItemKind::Event => {
            let (start, end) = window(
                engine,
                entry,
                options.now,
                engine.settings.event_past,
                engine.settings.event_future,
            );
            vec![(
                "calendar".to_owned(),
                DeltaResource::Events { start, end },
                Some(format!("{start}/{end}")),
                false,
            )]
        }
        ItemKind::Message => unreachable!("handled above"),
        ItemKind::Contact => {
            let contacts = contact_folder::scopes(engine, spec, entry, options).await?;
            read.contact_folder = contacts.create_in;
            read.forget = contacts.forget;
            contacts
                .scopes
                .into_iter()
                .map(|(name, resource)| (name, resource, None, false))
                .collect()
        }
        ItemKind::Task => {
            let lists = engine
                .graph
                .todo_lists(mailbox)
                .await
                .map_err(SyncError::graph)?;
            let default = lists
                .iter()
                .find(|l| l.wellknown_list_name == Some(WellknownListName::DefaultList))
                .or_else(|| lists.first());
            match default {
                Some(list) => {
                    read.list_id = Some(list.id.clone());
                    vec![(
                        format!("list:{}", list.id),
                        DeltaResource::Tasks {
                            list: list.id.clone(),
                        },
                        None,
                        false,
                    )]
                }
                None => Vec::new(),
            }
        }
    };
    Ok((scopes, None))
}

/// Fetches a linked item that a round reported removed or did not list: gone, or still there.
async fn check_gone(
    engine: &Engine,
    spec: &ResourceSpec,
    mailbox: &str,
    id: &str,
    read: &mut GraphRead,
) -> Result<(), SyncError> {
    let item = ItemRef {
        mailbox: mailbox.to_owned(),
        kind: spec.kind,
        id: id.to_owned(),
        list_id: read.list_id.clone(),
    };
    match engine
        .graph
        .get_item(&item)
        .await
        .map_err(SyncError::graph)?
    {
        None => read.removed.push(id.to_owned()),
        Some(found) => {
            read.outside.insert(id.to_owned());
            read.items.insert(id.to_owned(), found.to_json());
        }
    }
    Ok(())
}

/// Gives sparse occurrences the master's properties (Graph sends only id, type, seriesMasterId, start
/// and end for them).
async fn fill_occurrences(
    engine: &Engine,
    spec: &ResourceSpec,
    mailbox: &str,
    read: &mut GraphRead,
) -> Result<(), SyncError> {
    if spec.kind != ItemKind::Event {
        return Ok(());
    }
    let mut masters: HashMap<String, Option<Value>> = HashMap::new();
    let ids: Vec<String> = read.items.keys().cloned().collect();
    for id in ids {
        let Some(item) = read.items.get(&id) else {
            continue;
        };
        if item.get("type").and_then(Value::as_str) != Some("occurrence")
            || item.get("subject").is_some_and(|s| !s.is_null())
        {
            continue;
        }
        let Some(master_id) = item
            .get("seriesMasterId")
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            continue;
        };
        if !masters.contains_key(&master_id) {
            let master = match read.items.get(&master_id) {
                Some(m) => Some(m.clone()),
                None => engine
                    .graph
                    .get_item(&ItemRef {
                        mailbox: mailbox.to_owned(),
                        kind: ItemKind::Event,
                        id: master_id.clone(),
                        list_id: None,
                    })
                    .await
                    .map_err(SyncError::graph)?
                    .map(|i| i.to_json()),
            };
            masters.insert(master_id.clone(), master);
        }
        let Some(Some(master)) = masters.get(&master_id) else {
            continue;
        };
        let mut merged = master.clone();
        if let (Value::Object(m), Some(Value::Object(own))) = (&mut merged, read.items.get(&id)) {
            for key in ["recurrence", "exceptionOccurrences", "cancelledOccurrences"] {
                m.remove(key);
            }
            for (k, v) in own {
                if !v.is_null() {
                    m.insert(k.clone(), v.clone());
                }
            }
        }
        read.items.insert(id, merged);
    }
    Ok(())
}

/// Mapped changes for the planner.
pub fn map_changes(
    engine: &Engine,
    spec: &ResourceSpec,
    entry: &RosterEntry,
    roster: &Roster,
    read: &mut GraphRead,
    crm: &CrmRead,
    ctx: &Context,
) -> Changes {
    let set = &engine.settings.mappings;
    let mut graph = Vec::new();
    for (id, item) in &read.items {
        if read.ignore.contains(id) {
            continue;
        }
        let kind_of = item.get("type").and_then(Value::as_str).unwrap_or("");
        if kind_of == "seriesMaster" && !spec.series_fields {
            // Base templates have no serial appointments: each occurrence is its own appointment.
            continue;
        }
        let (fields, warnings) = mapped_fields(set, spec, item, ctx);
        for w in warnings {
            read.warnings
                .push(format!("{} `{}`: {w}", spec.name, subject(item)));
        }
        let content = Content {
            hash: Some(content_hash(&fields)),
            fields: Fields(fields),
        };
        let is_organizer = item.get("isOrganizer").and_then(Value::as_bool);
        let declined = is_organizer == Some(false)
            && item
                .pointer("/responseStatus/response")
                .and_then(Value::as_str)
                == Some("declined");
        let kind = if declined {
            GraphKind::Declined
        } else if read.outside.contains(id) && spec.kind == ItemKind::Event {
            GraphKind::OutsideWindow(Some(content))
        } else if !selected(&spec.mapping, item, ctx) {
            GraphKind::OutsideWindow(None)
        } else {
            GraphKind::Upserted(content)
        };
        graph.push(GraphChange {
            graph_id: id.clone(),
            correlation: correlation(spec, item),
            change_key: item
                .get("changeKey")
                .and_then(Value::as_str)
                .map(str::to_owned),
            last_modified: item
                .get("lastModifiedDateTime")
                .and_then(Value::as_str)
                .and_then(|t| t.parse().ok()),
            subject: Some(subject(item)).filter(|s| !s.is_empty()),
            organizer: (spec.kind == ItemKind::Event).then(|| {
                let organizer = item
                    .pointer("/organizer/emailAddress/address")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let is_self = is_organizer.unwrap_or(true);
                Organizer {
                    is_self,
                    is_synced_rep: is_self || roster.is_synced_address(organizer),
                }
            }),
            is_cancelled: item
                .get("isCancelled")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            series: if spec.series_fields {
                series(item)
            } else {
                None
            },
            kind,
        });
    }
    for id in &read.removed {
        graph.push(GraphChange {
            graph_id: id.clone(),
            correlation: None,
            change_key: None,
            last_modified: None,
            subject: None,
            organizer: None,
            is_cancelled: false,
            series: None,
            kind: GraphKind::Removed,
        });
    }
    read.changes = graph.clone();
    Changes {
        mailbox: entry.mailbox_id().to_owned(),
        resource: spec.name.clone(),
        graph,
        crm: crm.changes.clone(),
    }
}

/// The CRM fields of a Graph item as the link's Graph side hashes them: the mapping's output,
/// normalized, without what a busy block leaves out, with the serial-appointment flags.
pub fn mapped_fields(
    set: &crate::model::MappingSet,
    spec: &ResourceSpec,
    item: &Value,
    ctx: &Context,
) -> (IndexMap<String, FieldValue>, Vec<String>) {
    let record = to_crm(set, &spec.mapping, item, ctx);
    let mut fields = normalize(record.fields, &spec.compare);
    let private = matches!(
        item.get("sensitivity").and_then(Value::as_str),
        Some("private" | "confidential")
    );
    if let (true, Some(strip)) = (private, &spec.private_strip) {
        // A busy block: the time is blocked, nothing else leaves the mailbox.
        fields.retain(|k, _| !strip.contains(k));
    }
    if spec.series_fields {
        match item.get("type").and_then(Value::as_str).unwrap_or("") {
            "seriesMaster" => {
                fields.insert("IsMasterContact".into(), FieldValue::Bool(true));
            }
            "occurrence" | "exception" => {
                fields.insert("IsSerialContact".into(), FieldValue::Bool(true));
            }
            _ => {}
        }
    }
    (fields, record.warnings)
}

/// Drops empty texts and `false` booleans (the CRM does not tell an empty field from a false or missing
/// one), so both sides of a link hash alike.
pub fn normalize(
    fields: IndexMap<String, FieldValue>,
    kinds: &IndexMap<String, FieldKind>,
) -> IndexMap<String, FieldValue> {
    let _ = kinds;
    fields
        .into_iter()
        .filter(|(_, v)| match v {
            FieldValue::Text(t) => !t.is_empty(),
            FieldValue::Bool(b) => *b,
            _ => true,
        })
        .collect()
}

fn subject(item: &Value) -> String {
    ["subject", "title", "displayName"]
        .iter()
        .find_map(|k| item.get(*k).and_then(Value::as_str))
        .unwrap_or("")
        .to_owned()
}

fn correlation(spec: &ResourceSpec, item: &Value) -> Option<Correlation> {
    match spec.kind {
        ItemKind::Event => {
            let ical = item
                .get("iCalUId")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())?;
            // Occurrences of a series may share the series' iCalUId: each is its own meeting.
            let occurrence = match item.get("type").and_then(Value::as_str) {
                Some("occurrence" | "exception") => item
                    .get("originalStart")
                    .and_then(Value::as_str)
                    .and_then(|t| t.parse::<Timestamp>().ok())
                    .or_else(|| {
                        let start = item.get("start")?;
                        crate::mapping::time::parse_graph_time(start)
                            .ok()
                            .map(|t| t.instant)
                    })
                    .map(|t| format!("#{t}")),
                _ => None,
            };
            Some(Correlation {
                id: format!("{ical}{}", occurrence.unwrap_or_default()),
                sent: None,
                sender: None,
            })
        }
        ItemKind::Message => {
            let id = item.get("internetMessageId").and_then(Value::as_str)?;
            Some(Correlation {
                id: id.to_owned(),
                sent: item
                    .get("sentDateTime")
                    .and_then(Value::as_str)
                    .and_then(|t| t.parse().ok()),
                sender: item
                    .pointer("/from/emailAddress/address")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            })
        }
        _ => None,
    }
}

fn series(item: &Value) -> Option<Series> {
    let master = item
        .get("seriesMasterId")
        .and_then(Value::as_str)
        .map(str::to_owned);
    match (item.get("type").and_then(Value::as_str), master) {
        (Some("seriesMaster"), _) => Some(Series::Master),
        (Some("occurrence"), Some(m)) => Some(Series::Occurrence(m)),
        (Some("exception"), Some(m)) => Some(Series::Exception(m)),
        _ => None,
    }
}
