//! Finishing what a crashed run left: every journal entry begun and never resolved is looked up on the
//! side it wrote to — by our stamp (Graph), by the XK row (CRM), or by the payload hash when the XK row
//! was reserved but never pointed (G18) — and linked, so the rerun updates instead of creating again.
//! Updates and deletes are idempotent: they are resolved as interrupted and simply planned again.

use jiff::Timestamp;

use crate::{
    mapping::Context,
    plan::content_hash,
    state::{self, Outcome, PendingWrite, WriteStatus},
    transport::{
        crm::{
            Actor, Condition, Op, Query, RecordId, UPD_FIELD, Value, ext_keys, format_timestamp,
        },
        graph::{ItemKind, StampScope, types::WellknownListName},
    },
};

use super::{
    Engine, ResourceSpec, SyncError, context, crm_side, graph_side, links, roster::Roster,
    roster::RosterEntry,
};

/// Resolves the mailbox's pending writes.
pub async fn pending(
    engine: &Engine,
    entry: &RosterEntry,
    roster: &Roster,
    now: Timestamp,
) -> Result<(), SyncError> {
    let _ = roster;
    let pending = engine
        .state
        .pending_writes(entry.mailbox_id())
        .await
        .map_err(SyncError::state)?;
    if pending.is_empty() {
        return Ok(());
    }
    let ctx = context::base(engine, entry, now)?;
    for write in pending {
        let Some(spec) = engine
            .settings
            .resources
            .iter()
            .find(|r| r.name == write.entry.resource)
        else {
            resolve(engine, &write, Err("its resource is no longer mapped"), now).await?;
            continue;
        };
        let result = match (write.entry.direction.as_str(), write.entry.action.as_str()) {
            ("graph_to_crm", "create") => graph_to_crm_create(engine, spec, entry, &write).await?,
            ("crm_to_graph", "create") => {
                crm_to_graph_create(engine, spec, entry, &ctx, &write).await?
            }
            _ => None,
        };
        match result {
            Some(id) => resolve(engine, &write, Ok(id), now).await?,
            None => {
                resolve(
                    engine,
                    &write,
                    Err("interrupted by a crash; planned again in this cycle"),
                    now,
                )
                .await?
            }
        }
    }
    Ok(())
}

async fn resolve(
    engine: &Engine,
    write: &PendingWrite,
    result: Result<String, &str>,
    now: Timestamp,
) -> Result<(), SyncError> {
    let outcome = match result {
        Ok(id) => Outcome {
            status: WriteStatus::Ok,
            result_id: Some(id),
            detail: Some("recovered after a crash".into()),
            resolved_at: now,
        },
        Err(detail) => Outcome {
            status: WriteStatus::Failed,
            result_id: None,
            detail: Some(detail.into()),
            resolved_at: now,
        },
    };
    engine
        .state
        .resolve_write(write.id, &outcome)
        .await
        .map_err(SyncError::state)
}

/// A CRM record created for a Graph item: the XK row names it, or (reserved, never pointed) the record is
/// found among the rep's records saved since the write began, by the hash of what was sent.
async fn graph_to_crm_create(
    engine: &Engine,
    spec: &ResourceSpec,
    entry: &RosterEntry,
    write: &PendingWrite,
) -> Result<Option<String>, SyncError> {
    let graph_id = &write.entry.match_key;
    let crm = engine.crm.as_ref();
    let rows = ext_keys::find(crm, &Actor::Master, &[ext_keys::GRAPH_API], &[graph_id])
        .await
        .map_err(SyncError::crm)?;
    let Some(mut row) = rows.into_iter().next() else {
        return Ok(None);
    };
    let table = &spec.mapping.table;
    let record_id = match &row.rec_id {
        Some(id) => id.clone(),
        None => {
            let Some(id) = find_by_payload(engine, spec, entry, write).await? else {
                return Ok(None);
            };
            row.rec_id = Some(id.clone());
            ext_keys::put(crm, &Actor::Master, &row)
                .await
                .map_err(SyncError::crm)?;
            id
        }
    };
    let crm_hash = record_hash(engine, spec, &record_id).await?;
    let link = state::Link {
        mailbox: entry.mailbox_id().to_owned(),
        resource: spec.name.clone(),
        graph_id: graph_id.clone(),
        correlation_key: None,
        change_key: None,
        crm_table: table.clone(),
        crm_id: record_id.to_string(),
        // Unknown: the item is read again and its fields written once more (same values).
        graph_hash: String::new(),
        crm_hash,
        mapping_version: engine.settings.mapping_version.clone(),
        updated_at: write.entry.started_at,
        authoritative: true,
        published: false,
        origin: "graph".into(),
    };
    put_link(engine, &link).await?;
    Ok(Some(record_id.to_string()))
}

async fn find_by_payload(
    engine: &Engine,
    spec: &ResourceSpec,
    entry: &RosterEntry,
    write: &PendingWrite,
) -> Result<Option<RecordId>, SyncError> {
    let table = &spec.mapping.table;
    let since = write
        .entry
        .started_at
        .checked_sub(jiff::SignedDuration::from_secs(120))
        .unwrap_or(write.entry.started_at);
    let mut query = Query::table(table)
        .fields(spec.read.iter().map(String::as_str))
        .filter(Condition::new(
            table,
            UPD_FIELD,
            Op::Ge,
            Value::Text(format_timestamp(since)),
        ));
    if let Some(field) = &spec.rep_field {
        query = query.filter(Condition::eq(table, field, entry.rep.rep_id.as_str()));
    }
    let records = engine
        .crm
        .query(&Actor::Master, &query)
        .await
        .map_err(SyncError::crm)?;
    for record in records {
        let fields =
            crm_side::typed_fields(&record, &spec.compare, &spec.read, &engine.settings.formats);
        let compared = fields
            .into_iter()
            .filter(|(k, _)| spec.compare.contains_key(k))
            .collect();
        if content_hash(&graph_side::normalize(compared, &spec.compare)) != write.entry.payload_hash
        {
            continue;
        }
        // A record some other link already names is not the one we lost.
        let linked = ext_keys::for_record(
            engine.crm.as_ref(),
            &Actor::Master,
            ext_keys::info_area(table),
            &record.id,
        )
        .await
        .map_err(SyncError::crm)?;
        if linked.is_empty() {
            return Ok(Some(record.id.clone()));
        }
    }
    Ok(None)
}

/// The content hash of a record as the CRM side of a link keeps it.
async fn record_hash(
    engine: &Engine,
    spec: &ResourceSpec,
    id: &RecordId,
) -> Result<String, SyncError> {
    let fields: Vec<&str> = spec.read.iter().map(String::as_str).collect();
    let record = engine
        .crm
        .read(&Actor::Master, &spec.mapping.table, id, &fields)
        .await
        .map_err(SyncError::crm)?;
    Ok(match record {
        Some(record) => {
            let typed = crm_side::typed_fields(
                &record,
                &spec.compare,
                &spec.read,
                &engine.settings.formats,
            );
            let compared = typed
                .into_iter()
                .filter(|(k, _)| spec.compare.contains_key(k))
                .collect();
            content_hash(&graph_side::normalize(compared, &spec.compare))
        }
        None => String::new(),
    })
}

/// A Graph item created for a CRM record: found by our stamp, then given its XK row and link.
async fn crm_to_graph_create(
    engine: &Engine,
    spec: &ResourceSpec,
    entry: &RosterEntry,
    ctx: &Context,
    write: &PendingWrite,
) -> Result<Option<String>, SyncError> {
    // `INSTALLATION/TABLE:ID` (or `TABLE:ID` from before stamps were namespaced): found by the whole
    // stamp, so only this installation's items are recovered.
    let stamp = &write.entry.match_key;
    let Some((_, table, id)) = links::parse_stamp(stamp) else {
        return Ok(None);
    };
    let list_id = if spec.kind == ItemKind::Task {
        let lists = engine
            .graph
            .todo_lists(entry.graph_user())
            .await
            .map_err(SyncError::graph)?;
        lists
            .iter()
            .find(|l| l.wellknown_list_name == Some(WellknownListName::DefaultList))
            .or_else(|| lists.first())
            .map(|l| l.id.clone())
    } else {
        None
    };
    let scope = StampScope {
        mailbox: entry.graph_user().to_owned(),
        kind: spec.kind,
        list_id,
    };
    let found = engine
        .graph
        .find_by_stamp(&scope, stamp)
        .await
        .map_err(SyncError::graph)?;
    let Some(item) = found.into_iter().next() else {
        return Ok(None);
    };
    let graph_id = item.id().to_owned();
    let mut xk = ext_keys::ExtKey::graph(
        &graph_id,
        &spec.mapping.content_type,
        ext_keys::info_area(table),
        Some(RecordId::new(id)),
    );
    xk.rep_id = Some(entry.rep.rep_id.clone());
    ext_keys::put(engine.crm.as_ref(), &Actor::Master, &xk)
        .await
        .map_err(SyncError::crm)?;
    let (mapped, _) =
        graph_side::mapped_fields(&engine.settings.mappings, spec, &item.to_json(), ctx);
    let link = state::Link {
        mailbox: entry.mailbox_id().to_owned(),
        resource: spec.name.clone(),
        graph_id: graph_id.clone(),
        correlation_key: None,
        change_key: None,
        crm_table: table.to_owned(),
        crm_id: id.to_owned(),
        graph_hash: content_hash(&mapped),
        crm_hash: record_hash(engine, spec, &RecordId::new(id)).await?,
        mapping_version: engine.settings.mapping_version.clone(),
        updated_at: write.entry.started_at,
        authoritative: true,
        published: false,
        origin: "crm".into(),
    };
    put_link(engine, &link).await?;
    Ok(Some(graph_id))
}

async fn put_link(engine: &Engine, link: &state::Link) -> Result<(), SyncError> {
    match engine.state.put_link(link).await {
        Ok(()) => Ok(()),
        // Already linked (the crash came after the commit): nothing to recover.
        Err(e) if e.kind() == state::StateErrorKind::Conflict => Ok(()),
        Err(e) => Err(SyncError::state(e)),
    }
}
