//! Applying a plan: every write is journalled before it is sent and resolved after; every link the CRM
//! keeps is an External Key (XK) row written in the crash-safe order of docs/crm-interface-assumptions.md
//! (G18): reserve the key, write the record, point the key at it. The writes of each direction live in
//! `write_crm.rs` and `write_graph.rs`; the links, the cursors and the audit of a round are committed
//! together at the end (`commit`).

use std::collections::HashMap;

use indexmap::IndexMap;
use serde_json::Value as Json;

use crate::{
    mapping::Context,
    plan::{
        Action, ActionKind, Correlation, CrmKind, CrmRef, Fields, Flow, GraphKind, Plan,
        content_hash,
    },
    state::{self, AuditEntry, JournalEntry, Outcome, RoundCommit, WriteStatus},
    transport::{Disposition, crm},
};

use super::{
    CycleOptions, Engine, Prepared, ResourceSpec, SyncError, graph_side, roster::RosterEntry,
};

/// What applying a plan left for the commit.
#[derive(Debug, Default)]
pub struct Applied {
    pub upsert_links: IndexMap<String, state::Link>,
    pub delete_links: Vec<String>,
    pub audit: Vec<AuditEntry>,
    /// Indexes of the actions that failed.
    pub failed: Vec<usize>,
    pub errors: Vec<String>,
    /// Writes held back on purpose (e.g. a meeting with external attendees), for the report.
    pub notes: Vec<String>,
}

/// Applies the plan's writes in order. An item's failure is recorded and the rest go on; a failure that
/// concerns the whole mailbox (licence gone, access revoked) stops it.
pub async fn apply(
    engine: &Engine,
    spec: &ResourceSpec,
    entry: &RosterEntry,
    ctx: &Context,
    prepared: &Prepared,
    plan: &Plan,
    options: CycleOptions,
) -> Result<Applied, SyncError> {
    let mut run = Run {
        engine,
        spec,
        entry,
        ctx: ctx.clone(),
        prepared,
        options,
        links: prepared
            .links
            .iter()
            .map(|l| (l.graph_id.clone(), l.clone()))
            .collect(),
        by_record: prepared
            .links
            .iter()
            .map(|l| ((l.crm_table.clone(), l.crm_id.clone()), l.graph_id.clone()))
            .collect(),
        applied: Applied::default(),
    };
    let mut outcomes: Vec<(usize, Result<(), Failure>)> = Vec::new();
    // New records first, many per round trip; then every other write in plan order.
    let creates: Vec<(usize, &Action)> = plan
        .actions
        .iter()
        .enumerate()
        .filter(|(_, a)| {
            a.direction == Flow::GraphToCrm && matches!(a.kind, ActionKind::Create { .. })
        })
        .collect();
    // Series masters and single items before occurrences, so a serial appointment can name its master.
    let (serial, single): (Vec<_>, Vec<_>) = creates
        .iter()
        .copied()
        .partition(|(_, a)| a.series_master.is_some());
    for group in [single, serial] {
        for chunk in group.chunks(super::create_crm::CREATES_PER_REQUEST) {
            outcomes.extend(run.create_records(chunk).await.map_err(mailbox_error)?);
        }
    }
    let graph_creates: Vec<(usize, &Action)> = plan
        .actions
        .iter()
        .enumerate()
        .filter(|(_, a)| {
            a.direction == Flow::CrmToGraph && matches!(a.kind, ActionKind::Create { .. })
        })
        .collect();
    for chunk in graph_creates.chunks(super::create_crm::CREATES_PER_REQUEST) {
        outcomes.extend(run.create_graph_items(chunk).await.map_err(mailbox_error)?);
    }
    for (n, action) in plan.actions.iter().enumerate() {
        if !writes(&action.kind) || matches!(action.kind, ActionKind::Create { .. }) {
            continue;
        }
        let outcome = run.action(action).await;
        if let Err(Failure::Mailbox(e)) = outcome {
            return Err(e);
        }
        outcomes.push((n, outcome));
    }
    for (n, outcome) in outcomes {
        match outcome {
            Ok(()) => {}
            Err(Failure::Mailbox(e)) => return Err(e),
            Err(Failure::Item(message)) => {
                let action = &plan.actions[n];
                let what = action
                    .subject
                    .clone()
                    .or_else(|| action.graph_id.clone())
                    .unwrap_or_default();
                run.applied.failed.push(n);
                run.applied.errors.push(format!(
                    "{} {} `{what}`: {message}",
                    spec.name,
                    action.kind.name()
                ));
            }
        }
    }
    Ok(run.applied)
}

fn mailbox_error(failure: Failure) -> SyncError {
    match failure {
        Failure::Mailbox(e) => e,
        Failure::Item(message) => SyncError::new(message, "see the message"),
    }
}

fn writes(kind: &ActionKind) -> bool {
    !matches!(kind, ActionKind::Skip | ActionKind::Conflict { .. })
}

/// Commits the round: links, the cursors (unless something failed or the guard held deletes), the audit.
pub async fn commit(
    engine: &Engine,
    spec: &ResourceSpec,
    entry: &RosterEntry,
    prepared: &Prepared,
    plan: &Plan,
    applied: Applied,
    options: CycleOptions,
) -> Result<(), SyncError> {
    let advance = applied.failed.is_empty() && plan.stopped.is_none();
    let mut cursors: Vec<(String, String)> = Vec::new();
    if advance {
        cursors.extend(prepared.graph.cursors.iter().cloned());
        cursors.extend(prepared.crm.cursor.iter().cloned());
    }
    let _ = options;
    let mut cursors = cursors.into_iter();
    let round = RoundCommit {
        mailbox: entry.mailbox_id().to_owned(),
        resource: spec.name.clone(),
        upsert_links: applied.upsert_links.into_values().collect(),
        delete_links: applied.delete_links,
        cursor: cursors.next(),
        audit: applied.audit,
    };
    if let Err(e) = engine.state.commit_round(&round).await {
        if e.kind() != state::StateErrorKind::Conflict {
            return Err(SyncError::state(e));
        }
        // One link breaks a uniqueness rule: keep every other link (the writes happened), leave the
        // cursors where they were, and report the one that could not be recorded.
        return keep_links_one_by_one(engine, &round).await;
    }
    for (scope, value) in cursors {
        engine
            .state
            .put_cursor(entry.mailbox_id(), &spec.name, &scope, &value)
            .await
            .map_err(SyncError::state)?;
    }
    if advance {
        // Folders that went away: a cursor of theirs would only ever answer 404.
        for scope in &prepared.graph.forget {
            engine
                .state
                .delete_cursor(entry.mailbox_id(), &spec.name, scope)
                .await
                .map_err(SyncError::state)?;
        }
    }
    Ok(())
}

async fn keep_links_one_by_one(engine: &Engine, round: &RoundCommit) -> Result<(), SyncError> {
    let state = &engine.state;
    for graph_id in &round.delete_links {
        state
            .delete_link(&round.mailbox, &round.resource, graph_id)
            .await
            .map_err(SyncError::state)?;
    }
    let mut refused = Vec::new();
    for link in &round.upsert_links {
        match state.put_link(link).await {
            Ok(()) => {}
            Err(e) if e.kind() == state::StateErrorKind::Conflict => refused.push(format!(
                "graph item `{}` ↔ CRM record `{}:{}`",
                link.graph_id, link.crm_table, link.crm_id
            )),
            Err(e) => return Err(SyncError::state(e)),
        }
    }
    state
        .append_audit(&round.audit)
        .await
        .map_err(SyncError::state)?;
    Err(SyncError::new(
        format!(
            "{} link(s) could not be recorded because the item or the record is already linked: {}",
            refused.len(),
            refused.join(", ")
        ),
        "this is a bug of graph-connector; the cursor was kept, so the next cycle reconciles these items",
    ))
}

pub(super) enum Failure {
    Item(String),
    Mailbox(SyncError),
}

impl From<crm::CrmError> for Failure {
    fn from(e: crm::CrmError) -> Self {
        match e.disposition() {
            Disposition::ParkMailbox => Failure::Mailbox(SyncError::crm(e)),
            _ => Failure::Item(format!("CRM: {e}")),
        }
    }
}

impl From<crate::transport::graph::GraphError> for Failure {
    fn from(e: crate::transport::graph::GraphError) -> Self {
        match e.disposition() {
            Disposition::ParkMailbox => Failure::Mailbox(SyncError::graph(e)),
            _ => Failure::Item(format!("Microsoft Graph: {e}")),
        }
    }
}

impl From<state::StateError> for Failure {
    fn from(e: state::StateError) -> Self {
        Failure::Mailbox(SyncError::state(e))
    }
}

/// The state of applying one plan.
pub(super) struct Run<'a> {
    pub(super) engine: &'a Engine,
    pub(super) spec: &'a ResourceSpec,
    pub(super) entry: &'a RosterEntry,
    /// The mapping context; its directory grows as written items name new participants.
    pub(super) ctx: Context,
    pub(super) prepared: &'a Prepared,
    pub(super) options: CycleOptions,
    /// This mailbox's links as they stand after the actions so far, by Graph id.
    pub(super) links: HashMap<String, state::Link>,
    pub(super) by_record: HashMap<(String, String), String>,
    pub(super) applied: Applied,
}

impl Run<'_> {
    pub(super) async fn action(&mut self, action: &Action) -> Result<(), Failure> {
        match action.direction {
            Flow::GraphToCrm => self.write_crm(action).await,
            Flow::CrmToGraph => self.write_graph(action).await,
        }
    }

    pub(super) fn graph_hash_of(&self, id: &str) -> String {
        self.prepared
            .graph
            .changes
            .iter()
            .find(|c| c.graph_id == id)
            .and_then(|c| match &c.kind {
                GraphKind::Upserted(content) | GraphKind::OutsideWindow(Some(content)) => {
                    Some(content.hash())
                }
                _ => None,
            })
            .unwrap_or_default()
    }

    pub(super) fn correlation_of(&self, id: &str) -> Option<Correlation> {
        self.prepared
            .graph
            .changes
            .iter()
            .find(|c| c.graph_id == id)
            .and_then(|c| c.correlation.clone())
    }

    pub(super) fn crm_content(&self, record: &CrmRef) -> Option<&Fields> {
        self.prepared
            .crm
            .changes
            .iter()
            .find(|c| c.record == *record)
            .and_then(|c| match &c.kind {
                CrmKind::Upserted(content) => Some(&content.fields),
                _ => None,
            })
    }

    pub(super) fn crm_hash_of(&self, record: &CrmRef) -> String {
        self.prepared
            .crm
            .changes
            .iter()
            .find(|c| c.record == *record)
            .and_then(|c| match &c.kind {
                CrmKind::Upserted(content) => Some(content.hash()),
                _ => None,
            })
            .unwrap_or_default()
    }

    pub(super) async fn begin(
        &self,
        flow: Flow,
        action: &str,
        target: Option<String>,
        match_key: &str,
        payload: &str,
    ) -> Result<state::WriteId, Failure> {
        let entry = JournalEntry {
            mailbox: self.entry.mailbox_id().to_owned(),
            resource: self.spec.name.clone(),
            direction: flow.to_string(),
            action: action.to_owned(),
            target,
            match_key: match_key.to_owned(),
            payload_hash: payload.to_owned(),
            started_at: self.options.now,
        };
        Ok(self.engine.state.begin_write(&entry).await?)
    }

    pub(super) async fn resolve(
        &self,
        id: state::WriteId,
        result: Result<Option<String>, &str>,
    ) -> Result<(), Failure> {
        let outcome = match result {
            Ok(result_id) => Outcome {
                status: WriteStatus::Ok,
                result_id,
                detail: None,
                resolved_at: self.options.now,
            },
            Err(detail) => Outcome {
                status: WriteStatus::Failed,
                result_id: None,
                detail: Some(detail.to_owned()),
                resolved_at: self.options.now,
            },
        };
        Ok(self.engine.state.resolve_write(id, &outcome).await?)
    }

    /// The result of a journalled write: an error resolves the entry as failed and is returned as the
    /// item's failure.
    pub(super) async fn settle<T, E>(
        &self,
        write: state::WriteId,
        result: Result<T, E>,
    ) -> Result<T, Failure>
    where
        E: std::fmt::Display + Into<Failure>,
    {
        match result {
            Ok(value) => Ok(value),
            Err(e) => {
                self.resolve(write, Err(&e.to_string())).await?;
                Err(e.into())
            }
        }
    }

    /// A `GraphApi` XK row of this rep linking `key` to `record`.
    pub(super) fn xk_row(
        &self,
        key: &str,
        record: &CrmRef,
    ) -> crate::transport::crm::ext_keys::ExtKey {
        use crate::transport::crm::{RecordId, ext_keys};
        let mut xk = ext_keys::ExtKey::graph(
            key,
            &self.spec.mapping.content_type,
            ext_keys::info_area(&record.table),
            Some(RecordId::new(&record.id)),
        );
        xk.rep_id = Some(self.entry.rep.rep_id.clone());
        xk
    }

    pub(super) fn audit(
        &mut self,
        flow: Flow,
        action: &str,
        graph_id: Option<&str>,
        record: Option<&CrmRef>,
        before: Option<String>,
        after: Option<String>,
    ) {
        self.applied.audit.push(AuditEntry {
            time: self.options.now,
            mailbox: self.entry.mailbox_id().to_owned(),
            resource: self.spec.name.clone(),
            direction: flow.to_string(),
            action: action.to_owned(),
            graph_id: graph_id.map(str::to_owned),
            crm_id: record.map(|r| format!("{}:{}", r.table, r.id)),
            mapping_version: self.engine.settings.mapping_version.clone(),
            before_hash: before,
            after_hash: after,
        });
    }

    pub(super) fn keep_link(&mut self, mut link: state::Link) {
        // A link recovered after a crash lacks what only the item tells: take it from this cycle's read.
        if let Some(corr) = self.correlation_of(&link.graph_id) {
            link.correlation_key = Some(corr.key());
        }
        self.by_record.insert(
            (link.crm_table.clone(), link.crm_id.clone()),
            link.graph_id.clone(),
        );
        self.applied.delete_links.retain(|g| *g != link.graph_id);
        self.links.insert(link.graph_id.clone(), link.clone());
        self.applied
            .upsert_links
            .insert(link.graph_id.clone(), link);
    }

    pub(super) fn drop_link(&mut self, graph_id: &str) {
        if let Some(link) = self.links.remove(graph_id) {
            self.by_record.remove(&(link.crm_table, link.crm_id));
        }
        self.applied.upsert_links.shift_remove(graph_id);
        if !self.applied.delete_links.iter().any(|g| g == graph_id) {
            self.applied.delete_links.push(graph_id.to_owned());
        }
    }

    pub(super) fn new_link(&self, graph_id: &str, record: &CrmRef, origin: &str) -> state::Link {
        state::Link {
            mailbox: self.entry.mailbox_id().to_owned(),
            resource: self.spec.name.clone(),
            graph_id: graph_id.to_owned(),
            correlation_key: self.correlation_of(graph_id).map(|c| c.key()),
            change_key: self
                .prepared
                .graph
                .changes
                .iter()
                .find(|c| c.graph_id == graph_id)
                .and_then(|c| c.change_key.clone()),
            crm_table: record.table.clone(),
            crm_id: record.id.clone(),
            graph_hash: String::new(),
            crm_hash: String::new(),
            mapping_version: self.engine.settings.mapping_version.clone(),
            updated_at: self.options.now,
            authoritative: true,
            published: false,
            origin: origin.to_owned(),
        }
    }

    /// The Graph-side content hash of an item as Graph returned it, with its participants resolved as a
    /// later read of the item will resolve them.
    pub(super) async fn graph_hash_of_item(&mut self, item: &Json) -> Result<String, Failure> {
        super::context::resolve_persons(
            self.engine,
            self.spec,
            self.entry,
            &mut self.ctx.directory,
            &[item],
        )
        .await
        .map_err(|e| Failure::Item(e.message))?;
        let (fields, _) =
            graph_side::mapped_fields(&self.engine.settings.mappings, self.spec, item, &self.ctx);
        Ok(content_hash(&fields))
    }
}
