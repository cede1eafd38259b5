//! The links the planner sees and the adoption candidates it may use: this mailbox's links, other
//! mailboxes' links of the same meeting or e-mail, and XK rows (ours, and earlier connectors') found for
//! unlinked items and records.

use serde_json::Value as Json;

use crate::{
    mapping::FieldValue,
    plan::{
        self, Candidates, Changes, Correlation, CrmCandidate, CrmKind, CrmRef, FoundBy,
        GraphCandidate, GraphKind, Origin,
    },
    state,
    transport::{
        crm::{Actor, RecordId, ext_keys},
        graph::ItemKind,
    },
};

use super::{Engine, ResourceSpec, SyncError, graph_side::GraphRead, roster::RosterEntry};

pub fn correlation_xk(spec: &ResourceSpec, correlation: &Correlation) -> String {
    match spec.name.as_str() {
        "event" => format!("ical:{}", correlation.id),
        _ => format!("msg:{}", correlation.key()),
    }
}

/// `TABLE:ID` of a CRM record: the journal's record key, and the last part of a stamp.
pub fn stamp(record: &CrmRef) -> String {
    format!("{}:{}", record.table, record.id)
}

/// The stamp put on Graph items the connector creates or adopts: `INSTALLATION/TABLE:ID`, so that a
/// second installation (a test CRM pointed at the same tenant) never recovers or adopts this one's
/// items (docs/sync-rules.md, "Stamps").
pub fn graph_stamp(installation: &str, record: &CrmRef) -> String {
    format!("{installation}/{}", stamp(record))
}

/// `(installation, TABLE, ID)` of a stamp; the installation is `None` in an unnamespaced `TABLE:ID`.
pub fn parse_stamp(text: &str) -> Option<(Option<&str>, &str, &str)> {
    let (installation, rest) = match text.split_once('/') {
        Some((ns, rest)) if !ns.contains(':') => (Some(ns), rest),
        _ => (None, text),
    };
    let (table, id) = rest.split_once(':')?;
    Some((installation, table, id))
}

/// Whether a stamp was written by another installation (an unnamespaced stamp counts as ours).
pub fn foreign_stamp(installation: &str, text: &str) -> bool {
    parse_stamp(text).is_some_and(|(ns, _, _)| ns.is_some_and(|ns| ns != installation))
}

/// The planner's links: this mailbox's, and other mailboxes' links sharing a correlation key with a change.
pub async fn plan_links(
    engine: &Engine,
    spec: &ResourceSpec,
    entry: &RosterEntry,
    own: &[state::Link],
    changes: &Changes,
) -> Result<Vec<plan::Link>, SyncError> {
    let mut out: Vec<plan::Link> = own.iter().map(to_plan_link).collect();
    if !spec.correlated {
        return Ok(out);
    }
    let mut keys: Vec<String> = changes
        .graph
        .iter()
        .filter(|c| !own.iter().any(|l| l.graph_id == c.graph_id))
        .filter_map(|c| c.correlation.as_ref().map(Correlation::key))
        .collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        for link in engine
            .state
            .links_by_correlation(&spec.name, &key)
            .await
            .map_err(SyncError::state)?
        {
            if link.mailbox != entry.mailbox_id() {
                out.push(to_plan_link(&link));
            }
        }
    }
    Ok(out)
}

fn to_plan_link(link: &state::Link) -> plan::Link {
    plan::Link {
        mailbox: link.mailbox.clone(),
        graph_id: link.graph_id.clone(),
        correlation: link
            .correlation_key
            .as_deref()
            .and_then(Correlation::from_key),
        record: CrmRef {
            table: link.crm_table.clone(),
            id: link.crm_id.clone(),
        },
        graph_hash: link.graph_hash.clone(),
        crm_hash: link.crm_hash.clone(),
        authoritative: link.authoritative,
        published: link.published,
        origin: if link.origin == "crm" {
            Origin::Crm
        } else {
            Origin::Graph
        },
    }
}

/// Adoption candidates: for unlinked Graph items, XK rows — ours (`GraphApi`, by immutable id, then by
/// correlation key) and those earlier connectors left (`SyncML`, `marketing.manager`); for unlinked CRM
/// records, our XK rows naming an item of this rep (a create whose link was lost) and, for contacts, an
/// Outlook contact with the record's e-mail address.
///
/// An item that carries another installation's stamp is never a candidate: its id is returned in
/// `foreign`, and the runner leaves it alone.
pub async fn candidates(
    engine: &Engine,
    spec: &ResourceSpec,
    entry: &RosterEntry,
    changes: &Changes,
    links: &[plan::Link],
    graph: &GraphRead,
    foreign: &mut Vec<String>,
) -> Result<Candidates, SyncError> {
    let mut out = Candidates::default();
    let mut check = StampCheck {
        engine,
        spec,
        entry,
        list_id: graph.list_id.clone(),
        foreign,
    };
    crm_candidates(engine, spec, entry, changes, links, &mut out, &mut check).await?;
    graph_candidates(
        engine, spec, entry, changes, links, graph, &mut out, &mut check,
    )
    .await?;
    Ok(out)
}

/// Reads the stamp of an item adoption is about to take: one with another installation's stamp is
/// that installation's.
struct StampCheck<'a> {
    engine: &'a Engine,
    spec: &'a ResourceSpec,
    entry: &'a RosterEntry,
    list_id: Option<String>,
    foreign: &'a mut Vec<String>,
}

impl StampCheck<'_> {
    /// `true` when the item may be adopted; `false` (and remembered) when another installation's.
    async fn ours(&mut self, graph_id: &str) -> Result<bool, SyncError> {
        if self.foreign.iter().any(|f| f == graph_id) {
            return Ok(false);
        }
        let item = self
            .engine
            .graph
            .get_item(&crate::transport::graph::ItemRef {
                mailbox: self.entry.graph_user().to_owned(),
                kind: self.spec.kind,
                id: graph_id.to_owned(),
                list_id: self.list_id.clone(),
            })
            .await
            .map_err(SyncError::graph)?;
        let stamp = item.as_ref().and_then(|i| i.crm_stamp().map(str::to_owned));
        if stamp.is_some_and(|s| foreign_stamp(&self.engine.settings.installation, &s)) {
            tracing::info!(mailbox = %self.entry.address(), resource = %self.spec.name, graph_id, "another installation's item (its stamp names another CRM installation): left alone");
            self.foreign.push(graph_id.to_owned());
            return Ok(false);
        }
        Ok(true)
    }
}

async fn crm_candidates(
    engine: &Engine,
    spec: &ResourceSpec,
    entry: &RosterEntry,
    changes: &Changes,
    links: &[plan::Link],
    out: &mut Candidates,
    check: &mut StampCheck<'_>,
) -> Result<(), SyncError> {
    let unlinked: Vec<&plan::GraphChange> = changes
        .graph
        .iter()
        .filter(|c| matches!(c.kind, GraphKind::Upserted(_)))
        .filter(|c| {
            !links
                .iter()
                .any(|l| l.mailbox == changes.mailbox && l.graph_id == c.graph_id)
        })
        .collect();
    if unlinked.is_empty() {
        return Ok(());
    }
    let mut keys: Vec<String> = Vec::new();
    for c in &unlinked {
        keys.push(c.graph_id.clone());
        if let Some(corr) = &c.correlation {
            keys.push(correlation_xk(spec, corr));
            keys.push(corr.id.clone());
        }
    }
    let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let mut systems = vec![ext_keys::GRAPH_API];
    systems.extend_from_slice(ext_keys::LEGACY_SYSTEMS);
    let mut rows = ext_keys::find(engine.crm.as_ref(), &Actor::Master, &systems, &key_refs)
        .await
        .map_err(SyncError::crm)?;
    // The old connector's keys are EWS ids: translated, they match like any legacy key.
    rows.extend(super::legacy::translated_rows(engine, spec, entry).await?);
    let table = &spec.mapping.table;
    let area = ext_keys::info_area(table);
    let usable = |r: &&ext_keys::ExtKey| {
        r.rec_id.is_some() && (r.rec_table == area || r.rec_table == *table)
    };
    for c in unlinked {
        let ours = |key: &str| {
            rows.iter()
                .filter(usable)
                .find(|r| r.key == key && r.system == ext_keys::GRAPH_API)
        };
        let hit = ours(&c.graph_id)
            .map(|r| (r, FoundBy::Stamp))
            .or_else(|| {
                let corr = c.correlation.as_ref()?;
                ours(&correlation_xk(spec, corr)).map(|r| (r, FoundBy::Correlation))
            })
            .or_else(|| {
                let mut keys = vec![c.graph_id.clone()];
                keys.extend(c.correlation.as_ref().map(|corr| corr.id.clone()));
                keys.iter().find_map(|k| {
                    rows.iter()
                        .filter(usable)
                        .find(|r| {
                            r.key == *k && ext_keys::LEGACY_SYSTEMS.contains(&r.system.as_str())
                        })
                        .map(|r| (r, FoundBy::LegacyKey(r.system.clone())))
                })
            });
        if let Some((row, found_by)) = hit {
            if row.system == ext_keys::GRAPH_API && !check.ours(&c.graph_id).await? {
                continue;
            }
            let record = CrmRef {
                table: table.clone(),
                id: row
                    .rec_id
                    .as_ref()
                    .map(|r| r.to_string())
                    .unwrap_or_default(),
            };
            let by_id = found_by == FoundBy::Stamp;
            out.crm.push(CrmCandidate {
                graph_id: by_id.then(|| c.graph_id.clone()),
                correlation: if by_id { None } else { c.correlation.clone() },
                record,
                found_by,
            });
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn graph_candidates(
    engine: &Engine,
    spec: &ResourceSpec,
    entry: &RosterEntry,
    changes: &Changes,
    links: &[plan::Link],
    graph: &GraphRead,
    out: &mut Candidates,
    check: &mut StampCheck<'_>,
) -> Result<(), SyncError> {
    let unlinked: Vec<&plan::CrmChange> = changes
        .crm
        .iter()
        .filter(|c| matches!(c.kind, CrmKind::Upserted(_)))
        .filter(|c| {
            !links
                .iter()
                .any(|l| l.mailbox == changes.mailbox && l.record == c.record)
        })
        .collect();
    if unlinked.is_empty() {
        return Ok(());
    }
    let table = &spec.mapping.table;
    let ids: Vec<RecordId> = unlinked
        .iter()
        .map(|c| RecordId::new(&c.record.id))
        .collect();
    let rows = ext_keys::for_records(
        engine.crm.as_ref(),
        &Actor::Master,
        ext_keys::info_area(table),
        &ids,
    )
    .await
    .map_err(SyncError::crm)?;
    for c in &unlinked {
        let by_stamp = rows.iter().find(|r| {
            r.system == ext_keys::GRAPH_API
                && r.rec_id
                    .as_ref()
                    .is_some_and(|id| id.as_str() == c.record.id)
                && r.rep_id
                    .as_deref()
                    .is_none_or(|rep| rep.eq_ignore_ascii_case(&entry.rep.rep_id))
                && !r.key.starts_with("ical:")
                && !r.key.starts_with("msg:")
        });
        if let Some(row) = by_stamp
            && check.ours(&row.key).await?
        {
            out.graph.push(GraphCandidate {
                record: c.record.clone(),
                graph_id: row.key.clone(),
                found_by: FoundBy::Stamp,
            });
            continue;
        }
        if spec.kind == ItemKind::Contact
            && let CrmKind::Upserted(content) = &c.kind
        {
            let address =
                ["E-mail1", "E-mail2"]
                    .iter()
                    .find_map(|f| match content.fields.get(*f) {
                        Some(FieldValue::Text(a)) if !a.trim().is_empty() => {
                            Some(a.trim().to_owned())
                        }
                        _ => None,
                    });
            let Some(address) = address else { continue };
            let found = graph.items.iter().find(|(id, item)| {
                !links
                    .iter()
                    .any(|l| l.mailbox == changes.mailbox && l.graph_id == **id)
                    && item
                        .get("emailAddresses")
                        .and_then(Json::as_array)
                        .is_some_and(|list| {
                            list.iter().any(|e| {
                                e.get("address")
                                    .and_then(Json::as_str)
                                    .is_some_and(|a| a.trim().eq_ignore_ascii_case(&address))
                            })
                        })
            });
            if let Some((id, _)) = found
                && !out.graph.iter().any(|g| g.graph_id == *id)
                && check.ours(id).await?
            {
                out.graph.push(GraphCandidate {
                    record: c.record.clone(),
                    graph_id: id.clone(),
                    found_by: FoundBy::Address,
                });
            }
        }
    }
    Ok(())
}
