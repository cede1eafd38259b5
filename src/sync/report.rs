//! What a cycle did, for people (`Display`: a few lines per mailbox) and for programs (`--report json`,
//! whose shape is a documented API boundary: see README "Reports").

use std::fmt;

use indexmap::IndexMap;
use jiff::Timestamp;
use serde::Serialize;

use crate::{
    mapping::mailboxes::Status as Decision,
    plan::{Action, ActionKind, Flow, Plan, Reason},
    state::MailboxStatus,
};

use super::{Mode, ResourceSpec, RoundOutcome, SyncError, roster::RosterEntry};

/// The counts of one direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub created: u64,
    pub updated: u64,
    pub deleted: u64,
    pub unchanged: u64,
    pub skipped: u64,
    pub conflicts: u64,
    pub failed: u64,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.created += other.created;
        self.updated += other.updated;
        self.deleted += other.deleted;
        self.unchanged += other.unchanged;
        self.skipped += other.skipped;
        self.conflicts += other.conflicts;
        self.failed += other.failed;
    }

    /// Writes made (or planned).
    pub fn writes(&self) -> u64 {
        self.created + self.updated + self.deleted
    }
}

/// Both directions of one resource.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ResourceCounts {
    pub graph_to_crm: Counts,
    pub crm_to_graph: Counts,
}

impl ResourceCounts {
    /// Counts of a plan; `failed` are the indexes of actions whose write failed.
    pub fn from_plan(plan: &Plan, failed: &[usize]) -> ResourceCounts {
        let mut out = ResourceCounts::default();
        for (n, action) in plan.actions.iter().enumerate() {
            let counts = match action.direction {
                Flow::GraphToCrm => &mut out.graph_to_crm,
                Flow::CrmToGraph => &mut out.crm_to_graph,
            };
            if failed.contains(&n) {
                counts.failed += 1;
                continue;
            }
            match &action.kind {
                ActionKind::Create { .. } => counts.created += 1,
                ActionKind::Update { .. }
                | ActionKind::Adopt { .. }
                | ActionKind::AddParticipant { .. }
                | ActionKind::RemoveParticipant => counts.updated += 1,
                ActionKind::Delete | ActionKind::FlagDeleted { .. } => counts.deleted += 1,
                ActionKind::Conflict { .. } => counts.conflicts += 1,
                ActionKind::Skip if is_unchanged(&action.reason) => counts.unchanged += 1,
                ActionKind::Skip | ActionKind::Unlink => counts.skipped += 1,
            }
        }
        out
    }

    fn add(&mut self, other: &ResourceCounts) {
        self.graph_to_crm.add(&other.graph_to_crm);
        self.crm_to_graph.add(&other.crm_to_graph);
    }

    pub fn writes(&self) -> u64 {
        self.graph_to_crm.writes() + self.crm_to_graph.writes()
    }
}

fn is_unchanged(reason: &Reason) -> bool {
    matches!(
        reason,
        Reason::Echo(_) | Reason::Converged | Reason::NotAuthoritative(_)
    )
}

/// A mailbox's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Synced,
    Skipped,
    Failed,
    /// The mailbox's user was deleted from the tenant (a rep who left): not synced, not a failure.
    Retired,
}

/// One action as `plan` lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedAction {
    pub mailbox: String,
    pub resource: String,
    pub direction: String,
    pub action: String,
    pub graph_id: Option<String>,
    pub crm_id: Option<String>,
    pub subject: Option<String>,
    pub reason: String,
    pub reason_code: String,
}

impl PlannedAction {
    pub fn from_action(entry: &RosterEntry, spec: &ResourceSpec, action: &Action) -> Self {
        PlannedAction {
            mailbox: entry.address().to_owned(),
            resource: spec.name.clone(),
            direction: action.direction.to_string(),
            action: action.kind.name().to_owned(),
            graph_id: action.graph_id.clone(),
            crm_id: action.crm.as_ref().map(|r| format!("{}:{}", r.table, r.id)),
            subject: action.subject.clone(),
            reason: action.reason.to_string(),
            reason_code: action.reason.code().to_owned(),
        }
    }
}

/// One mailbox in the report.
#[derive(Debug, Clone, Serialize)]
pub struct MailboxReport {
    pub mailbox: String,
    pub rep: String,
    #[serde(skip)]
    pub user_id: Option<String>,
    pub status: Status,
    pub reason: Option<String>,
    pub fix: Option<String>,
    pub resources: IndexMap<String, ResourceCounts>,
    /// Items that failed (the rest synced), each with its reason.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    /// Resources held by the mass-delete guard, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub held: Vec<String>,
    /// Warnings about items that synced (mapping warnings, writes held back on purpose).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    #[serde(skip)]
    pub planned: Vec<PlannedAction>,
}

impl MailboxReport {
    pub fn for_entry(entry: &RosterEntry) -> MailboxReport {
        let (status, reason, fix) = match &entry.decision.status {
            Decision::Sync => (Status::Synced, None, None),
            Decision::Skip(why) => (
                Status::Skipped,
                Some(why.message()),
                Some(why.fix(&entry.rep.rep_id, entry.address())),
            ),
        };
        MailboxReport {
            mailbox: entry.address().to_owned(),
            rep: entry.rep.rep_id.clone(),
            user_id: entry.user_id.clone(),
            status,
            reason,
            fix,
            resources: IndexMap::new(),
            errors: Vec::new(),
            held: Vec::new(),
            notes: Vec::new(),
            planned: Vec::new(),
        }
    }

    /// A retired mailbox that no rep of this cycle names any more.
    pub fn retired(address: &str) -> MailboxReport {
        MailboxReport {
            mailbox: address.to_owned(),
            rep: String::new(),
            user_id: None,
            status: Status::Retired,
            reason: None,
            fix: None,
            resources: IndexMap::new(),
            errors: Vec::new(),
            held: Vec::new(),
            notes: Vec::new(),
            planned: Vec::new(),
        }
    }

    /// Marks the mailbox retired, with why and what to do.
    pub fn retire(&mut self, reason: String, fix: String) {
        self.status = Status::Retired;
        self.reason = Some(reason);
        self.fix = Some(fix);
    }

    pub fn fail(&mut self, e: &SyncError) {
        self.status = Status::Failed;
        self.reason = Some(e.message.clone());
        self.fix = Some(e.fix.clone());
    }

    pub fn resource_off(&mut self, resource: &str, switch: &str) {
        let _ = switch;
        self.resources.shift_remove(resource);
    }

    pub fn resource_failed(&mut self, resource: &str, e: &SyncError) {
        self.errors.push(format!("{resource}: {}", e.message));
        self.fail(e);
        if !e.park_mailbox {
            self.reason = Some(format!("{resource}: {}", e.message));
        }
    }

    pub fn resource_done(&mut self, resource: &str, outcome: RoundOutcome) {
        let failed = outcome.counts.graph_to_crm.failed + outcome.counts.crm_to_graph.failed;
        self.resources.insert(resource.to_owned(), outcome.counts);
        self.planned.extend(outcome.planned);
        self.notes.extend(outcome.notes);
        if let Some(guard) = outcome.guard {
            self.held.push(format!("{resource}: {guard}"));
            if self.status == Status::Synced {
                self.status = Status::Failed;
                self.reason = Some(format!("{resource}: {guard}"));
                self.fix = Some(
                    "check why so many items disappeared; if intended, run `graph-connector sync --once --allow-mass-delete`"
                        .into(),
                );
            }
        }
        if failed > 0 {
            self.errors.extend(outcome.item_errors);
            if self.status == Status::Synced {
                self.status = Status::Failed;
                self.reason = Some(format!(
                    "{failed} {resource} item(s) failed; the others synced"
                ));
                self.fix = Some("see the errors; the failed items are retried next cycle".into());
            }
        }
    }

    /// The status row for the state store (none for skipped reps without a mailbox id).
    pub fn status_row(&self, now: Timestamp) -> Option<MailboxStatus> {
        let mailbox = self.user_id.clone()?;
        if matches!(self.status, Status::Skipped | Status::Retired) {
            return None;
        }
        let ok = self.status == Status::Synced;
        Some(MailboxStatus {
            mailbox,
            address: self.mailbox.clone(),
            last_success: ok.then_some(now),
            last_error_at: (!ok).then_some(now),
            last_error: self.reason.clone(),
            last_fix: self.fix.clone(),
            counts: serde_json::to_value(&self.resources).unwrap_or_default(),
            retired_at: None,
        })
    }
}

/// Requests sent during the cycle.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Requests {
    pub graph: u64,
    pub crm: u64,
}

/// The whole cycle.
#[derive(Debug, Clone, Serialize)]
pub struct CycleReport {
    pub ok: bool,
    pub dry_run: bool,
    pub duration_ms: u64,
    pub requests: Requests,
    pub mailboxes: Vec<MailboxReport>,
    pub totals: IndexMap<String, ResourceCounts>,
    /// Why the cycle could not run at all (exit code 2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fatal: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl CycleReport {
    pub fn new(mode: Mode) -> CycleReport {
        CycleReport {
            ok: false,
            dry_run: mode == Mode::DryRun,
            duration_ms: 0,
            requests: Requests::default(),
            mailboxes: Vec::new(),
            totals: IndexMap::new(),
            fatal: None,
            warnings: Vec::new(),
        }
    }

    pub fn mailbox_mut(&mut self, entry: &RosterEntry) -> &mut MailboxReport {
        let rep = &entry.rep.rep_id;
        let at = self.mailboxes.iter().position(|m| m.rep == *rep);
        match at {
            Some(n) => &mut self.mailboxes[n],
            None => {
                self.mailboxes.push(MailboxReport::for_entry(entry));
                self.mailboxes.last_mut().expect("just pushed")
            }
        }
    }

    pub fn finish(&mut self, duration_ms: u64) {
        self.duration_ms = duration_ms;
        self.totals.clear();
        for mailbox in &self.mailboxes {
            for (resource, counts) in &mailbox.resources {
                self.totals.entry(resource.clone()).or_default().add(counts);
            }
        }
        self.ok = self.fatal.is_none() && self.mailboxes.iter().all(|m| m.status != Status::Failed);
    }

    /// Exit code: 0 all synced, 1 some mailbox or item failed, 2 could not run.
    pub fn exit_code(&self) -> u8 {
        if self.fatal.is_some() {
            2
        } else if self.ok {
            0
        } else {
            1
        }
    }

    /// Every planned action (for `plan`).
    pub fn planned(&self) -> impl Iterator<Item = &PlannedAction> {
        self.mailboxes.iter().flat_map(|m| m.planned.iter())
    }

    /// Writes made (or planned) in the whole cycle.
    pub fn writes(&self) -> u64 {
        self.totals.values().map(ResourceCounts::writes).sum()
    }
}

impl fmt::Display for CycleReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(fatal) = &self.fatal {
            return writeln!(f, "error: the cycle could not run: {fatal}");
        }
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        for m in &self.mailboxes {
            let status = match m.status {
                Status::Synced => "synced",
                Status::Skipped => "skipped",
                Status::Failed => "FAILED",
                Status::Retired => "retired",
            };
            writeln!(
                f,
                "{} ({}): {status}",
                display_or(&m.mailbox, "no address"),
                m.rep
            )?;
            if let Some(reason) = &m.reason {
                writeln!(f, "  reason: {reason}")?;
            }
            if let Some(fix) = &m.fix {
                writeln!(f, "  fix: {fix}")?;
            }
            for (resource, c) in &m.resources {
                writeln!(
                    f,
                    "  {resource:<8} graph→crm {}   crm→graph {}",
                    short(&c.graph_to_crm),
                    short(&c.crm_to_graph)
                )?;
            }
            for e in &m.errors {
                writeln!(f, "  error: {e}")?;
            }
            for h in &m.held {
                writeln!(f, "  held: {h}")?;
            }
            for n in &m.notes {
                writeln!(f, "  note: {n}")?;
            }
        }
        let verb = if self.dry_run { "would write" } else { "wrote" };
        writeln!(
            f,
            "{} {} change(s) in {} ms ({} Graph and {} CRM requests); {}",
            if self.ok {
                "ok:"
            } else {
                "some mailboxes failed:"
            },
            self.writes(),
            self.duration_ms,
            self.requests.graph,
            self.requests.crm,
            verb
        )
    }
}

fn display_or<'a>(s: &'a str, fallback: &'a str) -> &'a str {
    if s.is_empty() { fallback } else { s }
}

fn short(c: &Counts) -> String {
    format!(
        "+{} ~{} -{} ={}{}{}{}",
        c.created,
        c.updated,
        c.deleted,
        c.unchanged,
        if c.skipped > 0 {
            format!(" skipped {}", c.skipped)
        } else {
            String::new()
        },
        if c.conflicts > 0 {
            format!(" conflicts {}", c.conflicts)
        } else {
            String::new()
        },
        if c.failed > 0 {
            format!(" failed {}", c.failed)
        } else {
            String::new()
        }
    )
}
