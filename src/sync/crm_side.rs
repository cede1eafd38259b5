//! The CRM side of one mailbox and resource: the rep's records changed since the cursor (deleted ones
//! included), read back into the typed values `to_crm` produces and classified for the planner.
//!
//! Rules kept here (docs/sync-rules.md): a record whose deletion flag is set is `flagged_deleted`; one that
//! fails the mapping's CRM filter is `left_scope` (unlink, never delete); unlinked records only matter when
//! they may create a Graph item (the direction allows it, and for appointments the date is in the
//! window); the first read of an appointment table is bounded by the window, later reads take every change
//! whatever its date, so an edit of a linked record far in the past or future is still seen.

use std::collections::HashMap;

use indexmap::IndexMap;
use jiff::{Timestamp, ToSpan};
use serde_json::Value as Json;

use crate::{
    mapping::{FieldKind, FieldValue, filter},
    plan::{Content, CrmChange, CrmKind, CrmRef, Fields, content_hash},
    state::Link,
    transport::crm::{
        Actor, Condition, CursorFlags, Op, Query, Record, UPD_FIELD, Value, WireFormats,
        format_timestamp,
    },
};

use super::{CycleOptions, Engine, ResourceSpec, SyncError, graph_side, roster::RosterEntry};

/// The state scope of the CRM cursor.
pub const CRM_SCOPE: &str = "crm";
/// Reads start this long before the previous read began, so a record saved while it ran is not missed
/// (re-reading is harmless: unchanged content is an echo).
const OVERLAP_SECONDS: i64 = 120;

/// Everything read from the CRM for one mailbox and resource.
#[derive(Debug, Default)]
pub struct CrmRead {
    pub changes: Vec<CrmChange>,
    /// The records' fields (canonical JSON, for `to_graph`), by record.
    pub records: HashMap<CrmRef, IndexMap<String, Json>>,
    /// The cursor to persist after the round: (scope, value).
    pub cursor: Option<(String, String)>,
}

/// Reads the rep's changed records.
pub async fn read(
    engine: &Engine,
    spec: &ResourceSpec,
    entry: &RosterEntry,
    links: &[Link],
    options: CycleOptions,
) -> Result<CrmRead, SyncError> {
    let mut out = CrmRead::default();
    if !spec.policy.crm_to_graph() {
        // Graph → CRM only: CRM edits never flow back, and a CRM-side conflict cannot be won by the CRM.
        return Ok(out);
    }
    let table = &spec.mapping.table;
    let since = engine
        .state
        .get_cursor(entry.mailbox_id(), &spec.name, CRM_SCOPE)
        .await
        .map_err(SyncError::state)?
        .and_then(|v| v.parse::<Timestamp>().ok());
    let mut query = Query::table(table)
        .fields(spec.read.iter().map(String::as_str).chain([UPD_FIELD]))
        .flags(CursorFlags::READ_DELETED);
    if let Some(field) = &spec.rep_field {
        query = query.filter(Condition::eq(table, field, entry.rep.rep_id.as_str()));
    }
    let window = window_dates(engine, spec, entry, options);
    match since {
        Some(since) => {
            let from = since
                .checked_sub(OVERLAP_SECONDS.seconds())
                .unwrap_or(since);
            query = query.filter(Condition::new(
                table,
                UPD_FIELD,
                Op::Ge,
                Value::Text(format_timestamp(from)),
            ));
        }
        None => {
            if let Some((field, start, end)) = &window {
                query = query
                    .filter(Condition::new(table, field, Op::Ge, Value::Date(*start)))
                    .filter(Condition::new(table, field, Op::Le, Value::Date(*end)));
            }
        }
    }
    let records = engine
        .crm
        .query(&Actor::Master, &query)
        .await
        .map_err(SyncError::crm)?;
    tracing::debug!(mailbox = %entry.address(), resource = %spec.name, records = records.len(), ?window, "crm changes read");
    out.cursor = Some((CRM_SCOPE.to_owned(), options.now.to_string()));
    for record in records {
        let record_ref = CrmRef {
            table: table.clone(),
            id: record.id.to_string(),
        };
        let linked = links
            .iter()
            .any(|l| l.crm_table == record_ref.table && l.crm_id == record_ref.id);
        let fields = typed_fields(&record, &spec.compare, &spec.read, &engine.settings.formats);
        let subject = ["Subject", "LastName", "Type"]
            .iter()
            .find_map(|f| record.text(f))
            .map(str::to_owned);
        let flagged = matches!(
            fields.get(&spec.mapping.deletion.flag_field),
            Some(FieldValue::Bool(true))
        );
        let json: IndexMap<String, Json> = fields
            .iter()
            .map(|(k, v)| (k.clone(), v.to_json()))
            .collect();
        let in_filter = spec
            .mapping
            .filter
            .as_ref()
            .is_none_or(|f| filter::matches(f, &json));
        let kind = if record.deleted {
            CrmKind::Deleted
        } else if flagged {
            CrmKind::FlaggedDeleted
        } else if !in_filter {
            CrmKind::LeftScope
        } else {
            let compared: IndexMap<String, FieldValue> = fields
                .iter()
                .filter(|(k, _)| spec.compare.contains_key(*k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let compared = graph_side::normalize(compared, &spec.compare);
            CrmKind::Upserted(Content {
                hash: Some(content_hash(&compared)),
                fields: Fields(compared),
            })
        };
        if !linked {
            let creatable =
                matches!(kind, CrmKind::Upserted(_)) && in_window(&fields, window.as_ref());
            if !creatable {
                continue;
            }
        }
        out.records.insert(record_ref.clone(), json);
        out.changes.push(CrmChange {
            record: record_ref,
            last_modified: record.text(UPD_FIELD).and_then(|t| t.parse().ok()),
            subject,
            kind,
        });
    }
    Ok(out)
}

/// The date field and the window's first and last day, for appointment tables (`Date`) and absences
/// (`StartDate`).
fn window_dates(
    engine: &Engine,
    spec: &ResourceSpec,
    entry: &RosterEntry,
    options: CycleOptions,
) -> Option<(String, jiff::civil::Date, jiff::civil::Date)> {
    let field = ["Date", "StartDate"]
        .into_iter()
        .find(|f| spec.read.iter().any(|r| r == f))?;
    if spec.kind != crate::transport::graph::ItemKind::Event {
        return None;
    }
    let (start, end) = graph_side::window(
        engine,
        entry,
        options.now,
        engine.settings.event_past,
        engine.settings.event_future,
    );
    let zone = jiff::tz::TimeZone::UTC;
    Some((
        field.to_owned(),
        zone.to_datetime(start).date(),
        zone.to_datetime(end).date(),
    ))
}

fn in_window(
    fields: &IndexMap<String, FieldValue>,
    window: Option<&(String, jiff::civil::Date, jiff::civil::Date)>,
) -> bool {
    let Some((field, start, end)) = window else {
        return true;
    };
    match fields.get(field) {
        Some(FieldValue::Date(d)) => d >= start && d <= end,
        _ => false,
    }
}

/// The record's fields as typed values: dates and times parsed with the CRM's wire formats, booleans and
/// numbers by the kind the mapping gives them, the rest as text; empty fields left out.
pub fn typed_fields(
    record: &Record,
    kinds: &IndexMap<String, FieldKind>,
    read: &[String],
    formats: &WireFormats,
) -> IndexMap<String, FieldValue> {
    let mut out = IndexMap::new();
    for name in read {
        let Some(text) = record.text(name) else {
            continue;
        };
        if text.is_empty() {
            continue;
        }
        let value = match kinds.get(name).copied().unwrap_or(FieldKind::Text) {
            FieldKind::Date => formats.parse_date(text).map(FieldValue::Date),
            FieldKind::Time => formats.parse_time(text).map(FieldValue::Time),
            FieldKind::Bool => WireFormats::parse_bool(text).map(FieldValue::Bool),
            FieldKind::Number => text.trim().parse::<f64>().ok().map(|n| {
                if n.fract() == 0.0 && n.abs() < 9e15 {
                    FieldValue::Int(n as i64)
                } else {
                    FieldValue::Number(n)
                }
            }),
            FieldKind::Text => None,
        }
        .unwrap_or_else(|| {
            // Dates of fields only the reverse rules read still reach `to_graph` in ISO form.
            formats
                .parse_date(text)
                .map_or_else(|| FieldValue::Text(text.to_owned()), FieldValue::Date)
        });
        out.insert(name.clone(), value);
    }
    out
}
