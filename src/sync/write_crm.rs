//! Graph → CRM writes of a plan: create (XK reserved, record inserted, XK pointed), update, adopt,
//! deletion flag, delete, and the participants of a record shared by several mailboxes.

use indexmap::IndexMap;

use crate::{
    mapping::FieldValue,
    plan::{self, Action, ActionKind, CrmRef, Fields, Flow, content_hash},
    state,
    transport::crm::{self, Actor, RecordId, ext_keys},
};

use super::{
    apply::{Failure, Run},
    graph_side,
    links::{correlation_xk, stamp},
};

impl Run<'_> {
    pub(super) async fn write_crm(&mut self, action: &Action) -> Result<(), Failure> {
        let graph_id = action.graph_id.clone().unwrap_or_default();
        let actor = self.entry.actor();
        let table = self.spec.mapping.table.clone();
        match &action.kind {
            // Creates go through `create_records`, many per round trip.
            ActionKind::Create { .. } => {}
            ActionKind::Update { fields } | ActionKind::Adopt { fields, .. } => {
                let record = action.crm.clone().unwrap_or_else(|| CrmRef {
                    table: table.clone(),
                    id: String::new(),
                });
                let full = full_update(action);
                let clears: Vec<String> = if full {
                    self.spec.clear.clone()
                } else {
                    Vec::new()
                };
                let payload = content_hash(fields);
                let write = self
                    .begin(
                        Flow::GraphToCrm,
                        action.kind.name(),
                        Some(stamp(&record)),
                        &graph_id,
                        &payload,
                    )
                    .await?;
                let id = RecordId::new(&record.id);
                let result = self
                    .engine
                    .crm
                    .update(&actor, &record.table, &id, crm_fields(fields, &clears))
                    .await;
                self.settle(write, result).await?;
                if let ActionKind::Adopt { .. } = &action.kind {
                    let xk = self.xk_row(&graph_id, &record);
                    self.settle(
                        write,
                        ext_keys::put(self.engine.crm.as_ref(), &Actor::Master, &xk).await,
                    )
                    .await?;
                    self.correlation_key_row(&graph_id, &record).await;
                }
                self.resolve(write, Ok(Some(record.id.clone()))).await?;
                let mut link = match self.links.get(&graph_id) {
                    Some(l) => l.clone(),
                    None => {
                        let mut l = self.new_link(&graph_id, &record, "graph");
                        l.authoritative = self.authoritative(&graph_id, false);
                        l
                    }
                };
                let before = link.crm_hash.clone();
                let base = self.crm_content(&record).cloned();
                link.crm_hash = self.crm_hash_after(base.as_ref(), fields, full);
                link.graph_hash = self.graph_hash_of(&graph_id);
                link.updated_at = self.options.now;
                let after = link.crm_hash.clone();
                self.keep_link(link);
                self.audit(
                    Flow::GraphToCrm,
                    action.kind.name(),
                    Some(&graph_id),
                    Some(&record),
                    Some(before),
                    Some(after),
                );
            }
            ActionKind::FlagDeleted { field } => {
                let record = action.crm.clone().unwrap_or_default_ref(&table);
                let write = self
                    .begin(
                        Flow::GraphToCrm,
                        "flag_deleted",
                        Some(stamp(&record)),
                        &graph_id,
                        "",
                    )
                    .await?;
                let result = self
                    .engine
                    .crm
                    .soft_delete(&actor, &record.table, &RecordId::new(&record.id), field)
                    .await;
                match result {
                    Ok(()) => self.resolve(write, Ok(None)).await?,
                    Err(e) if e.kind == crm::CrmErrorKind::NotFound => {
                        self.resolve(write, Ok(None)).await?
                    }
                    Err(e) => {
                        self.resolve(write, Err(&e.to_string())).await?;
                        return Err(e.into());
                    }
                }
                let before = self.links.get(&graph_id).map(|l| l.crm_hash.clone());
                self.drop_link(&graph_id);
                self.audit(
                    Flow::GraphToCrm,
                    "flag_deleted",
                    Some(&graph_id),
                    Some(&record),
                    before,
                    None,
                );
            }
            ActionKind::Delete => {
                let record = action.crm.clone().unwrap_or_default_ref(&table);
                let write = self
                    .begin(
                        Flow::GraphToCrm,
                        "delete",
                        Some(stamp(&record)),
                        &graph_id,
                        "",
                    )
                    .await?;
                let result = self
                    .engine
                    .crm
                    .delete(&actor, &record.table, &RecordId::new(&record.id))
                    .await;
                match result {
                    Ok(()) => self.resolve(write, Ok(None)).await?,
                    Err(e) if e.kind == crm::CrmErrorKind::NotFound => {
                        self.resolve(write, Ok(None)).await?
                    }
                    Err(e) => {
                        self.resolve(write, Err(&e.to_string())).await?;
                        return Err(e.into());
                    }
                }
                self.remove_xk(&graph_id).await?;
                let before = self.links.get(&graph_id).map(|l| l.crm_hash.clone());
                self.drop_link(&graph_id);
                self.audit(
                    Flow::GraphToCrm,
                    "delete",
                    Some(&graph_id),
                    Some(&record),
                    before,
                    None,
                );
            }
            ActionKind::AddParticipant { authoritative } => {
                let record = action.crm.clone().unwrap_or_default_ref(&table);
                self.participant(&record, true).await?;
                let xk = self.xk_row(&graph_id, &record);
                ext_keys::put(self.engine.crm.as_ref(), &Actor::Master, &xk).await?;
                let mut link = self.new_link(&graph_id, &record, "graph");
                link.graph_hash = self.graph_hash_of(&graph_id);
                link.authoritative = *authoritative;
                if *authoritative {
                    // The organizer's copy takes over: the other copies only add their reps from now on.
                    for mut other in self
                        .engine
                        .state
                        .links_by_crm(&to_state_ref(&record))
                        .await?
                    {
                        if other.mailbox != link.mailbox && other.authoritative {
                            other.authoritative = false;
                            self.engine.state.put_link(&other).await?;
                        }
                    }
                }
                link.crm_hash = self
                    .engine
                    .state
                    .links_by_crm(&to_state_ref(&record))
                    .await?
                    .first()
                    .map(|l| l.crm_hash.clone())
                    .unwrap_or_default();
                self.keep_link(link);
                self.audit(
                    Flow::GraphToCrm,
                    "add_participant",
                    Some(&graph_id),
                    Some(&record),
                    None,
                    None,
                );
            }
            ActionKind::RemoveParticipant => {
                let record = action.crm.clone().unwrap_or_default_ref(&table);
                self.participant(&record, false).await?;
                self.remove_xk(&graph_id).await?;
                self.drop_link(&graph_id);
                self.audit(
                    Flow::GraphToCrm,
                    "remove_participant",
                    Some(&graph_id),
                    Some(&record),
                    None,
                    None,
                );
            }
            ActionKind::Unlink => {
                self.remove_xk(&graph_id).await?;
                self.drop_link(&graph_id);
                self.audit(
                    Flow::GraphToCrm,
                    "unlink",
                    Some(&graph_id),
                    action.crm.as_ref(),
                    None,
                    None,
                );
            }
            ActionKind::Skip | ActionKind::Conflict { .. } => {}
        }
        Ok(())
    }

    /// Whether a new link of this copy writes the record: the organizer's own copy, a meeting whose
    /// organizer is not synced (the first copy speaks for it), or anything that is not a meeting.
    pub(super) fn authoritative(&self, graph_id: &str, published: bool) -> bool {
        let change = self
            .prepared
            .graph
            .changes
            .iter()
            .find(|c| c.graph_id == graph_id);
        match change.and_then(|c| c.organizer) {
            Some(o) => o.is_self || published || !o.is_synced_rep,
            None => true,
        }
    }

    /// The CRM content hash after writing `fields` over `base` (the record as read, if it was);
    /// `full`: fields the mapping writes and `fields` lacks were cleared.
    pub(super) fn crm_hash_after(
        &self,
        base: Option<&Fields>,
        fields: &Fields,
        full: bool,
    ) -> String {
        let mut merged: IndexMap<String, FieldValue> = match base {
            Some(b) if !full => b.0.clone(),
            Some(b) => {
                b.0.iter()
                    .filter(|(k, _)| !self.spec.clear.contains(k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            }
            None => IndexMap::new(),
        };
        for (k, v) in fields.iter() {
            if self.spec.compare.contains_key(k) {
                merged.insert(k.clone(), v.clone());
            }
        }
        content_hash(&graph_side::normalize(merged, &self.spec.compare))
    }

    /// Writes the XK row of the correlation key (best effort: the Graph id row already links).
    pub(super) async fn correlation_key_row(&self, graph_id: &str, record: &CrmRef) {
        let Some(corr) = self.correlation_of(graph_id) else {
            return;
        };
        let xk = self.xk_row(&correlation_xk(self.spec, &corr), record);
        if let Err(e) = ext_keys::put(self.engine.crm.as_ref(), &Actor::Master, &xk).await {
            tracing::warn!(graph_id, error = %e, "cannot write the correlation key's XK row");
        }
    }

    pub(super) async fn remove_xk(&self, graph_id: &str) -> Result<(), Failure> {
        let rows = ext_keys::find(
            self.engine.crm.as_ref(),
            &Actor::Master,
            &[ext_keys::GRAPH_API],
            &[graph_id],
        )
        .await?;
        for row in rows {
            if let Some(id) = &row.id {
                match ext_keys::remove(self.engine.crm.as_ref(), &Actor::Master, id).await {
                    Ok(()) => {}
                    Err(e) if e.kind == crm::CrmErrorKind::NotFound => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(())
    }

    /// Adds (or removes) this mailbox's rep in the record's rep-participant field.
    pub(super) async fn participant(&self, record: &CrmRef, add: bool) -> Result<(), Failure> {
        let Some(p) = &self.spec.mapping.participants else {
            return Ok(());
        };
        let Some(field) = &p.resolved.rep_ids else {
            return Ok(());
        };
        let id = RecordId::new(&record.id);
        let Some(current) = self
            .engine
            .crm
            .read(&Actor::Master, &record.table, &id, &[field.as_str()])
            .await?
        else {
            return Ok(());
        };
        let sep = p.resolved.separator.clone();
        let mut reps: Vec<String> = current
            .text(field)
            .unwrap_or("")
            .split(sep.trim())
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        let me = &self.entry.rep.rep_id;
        let has = reps.iter().any(|r| r.eq_ignore_ascii_case(me));
        match (add, has) {
            (true, false) => reps.push(me.clone()),
            (false, true) => reps.retain(|r| !r.eq_ignore_ascii_case(me)),
            _ => return Ok(()),
        }
        let mut fields = crm::Fields::new();
        fields.insert(field.clone(), crm::Value::Text(reps.join(&sep)));
        self.engine
            .crm
            .update(&Actor::Master, &record.table, &id, fields)
            .await?;
        Ok(())
    }
}

/// An update that carries every mapped field (an edit, a join, an adoption), as opposed to the fields
/// one side won in a conflict.
fn full_update(action: &Action) -> bool {
    !matches!(
        action.reason,
        plan::Reason::Conflict { .. } | plan::Reason::ConflictNotWritable { .. }
    )
}

/// The CRM fields of a write; `clears` are sent empty when `fields` lacks them.
pub(super) fn crm_fields(fields: &Fields, clears: &[String]) -> crm::Fields {
    let mut out = crm::Fields::new();
    for (k, v) in fields.iter() {
        out.insert(
            k.clone(),
            match v {
                FieldValue::Text(t) => crm::Value::Text(t.clone()),
                FieldValue::Bool(b) => crm::Value::Bool(*b),
                FieldValue::Int(i) => crm::Value::Number(*i as f64),
                FieldValue::Number(n) => crm::Value::Number(*n),
                FieldValue::Date(d) => crm::Value::Date(*d),
                FieldValue::Time(t) => crm::Value::Time(*t),
            },
        );
    }
    for field in clears {
        if !out.contains_key(field) {
            out.insert(field.clone(), crm::Value::Null);
        }
    }
    out
}

fn to_state_ref(record: &CrmRef) -> state::CrmRef {
    state::CrmRef {
        table: record.table.clone(),
        id: record.id.clone(),
    }
}

trait OrDefaultRef {
    fn unwrap_or_default_ref(self, table: &str) -> CrmRef;
}

impl OrDefaultRef for Option<CrmRef> {
    fn unwrap_or_default_ref(self, table: &str) -> CrmRef {
        self.unwrap_or_else(|| CrmRef {
            table: table.to_owned(),
            id: String::new(),
        })
    }
}
