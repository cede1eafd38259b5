//! The planner's output: actions with their reasons, in the order the runner applies them, and the text
//! `plan` and `explain` print.

use std::fmt;

use serde::{Serialize, Serializer};

use super::input::{CrmRef, Fields, FoundBy};
use super::policy::ConflictPolicy;
use crate::mapping::FieldValue;

/// The plan for one mailbox and resource.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub mailbox: String,
    pub resource: String,
    pub actions: Vec<Action>,
    /// The mass-delete guard held this plan's deletes. The runner must not advance this mailbox/resource's
    /// delta cursor, so the removals come back next cycle (or with `--allow-mass-delete`).
    pub stopped: Option<GuardStop>,
    /// The guard would have tripped but `allow_mass_delete` let the deletes through (for the report).
    pub overridden: Option<GuardStop>,
}

/// Which way an action writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Flow {
    GraphToCrm,
    CrmToGraph,
}

impl fmt::Display for Flow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Flow::GraphToCrm => "graph_to_crm",
            Flow::CrmToGraph => "crm_to_graph",
        })
    }
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Action {
    pub direction: Flow,
    pub kind: ActionKind,
    pub graph_id: Option<String>,
    pub crm: Option<CrmRef>,
    pub subject: Option<String>,
    /// For occurrences and exceptions: the series master's Graph id (planned earlier in the same plan or
    /// already linked), so the runner links the serial appointment to its master.
    pub series_master: Option<String>,
    pub reason: Reason,
}

/// What an action does. Writes carry the fields to write.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum ActionKind {
    /// Create the item on the target side and link it; `published`: mark ConnectorPublished.
    Create { fields: Fields, published: bool },
    /// Update the linked item with these fields.
    Update { fields: Fields },
    /// Delete the target item.
    Delete,
    /// Set the CRM deletion flag `field`; the record stays.
    FlagDeleted { field: String },
    /// Link an existing item instead of creating one, then write `fields` to it.
    Adopt { found_by: FoundBy, fields: Fields },
    /// Add this mailbox's rep as participant of a record another mailbox's copy is linked to, and link
    /// this copy; `authoritative`: this copy (the organizer's) takes over writing the record's fields.
    AddParticipant { authoritative: bool },
    /// Remove this mailbox's rep (participant and link) from the record; the record stays.
    RemoveParticipant,
    /// Forget the link; both sides stay as they are.
    Unlink,
    /// Nothing to do.
    Skip,
    /// Both sides changed and the policy lets nobody win: quarantined and reported, nothing written.
    Conflict { fields: Vec<String> },
}

impl ActionKind {
    /// The name in reports (`create`, `flag_deleted`, …).
    pub fn name(&self) -> &'static str {
        match self {
            ActionKind::Create { .. } => "create",
            ActionKind::Update { .. } => "update",
            ActionKind::Delete => "delete",
            ActionKind::FlagDeleted { .. } => "flag_deleted",
            ActionKind::Adopt { .. } => "adopt",
            ActionKind::AddParticipant { .. } => "add_participant",
            ActionKind::RemoveParticipant => "remove_participant",
            ActionKind::Unlink => "unlink",
            ActionKind::Skip => "skip",
            ActionKind::Conflict { .. } => "conflict",
        }
    }

    /// Deletes and deletion flags: what the mass-delete guard counts.
    pub fn is_destructive(&self) -> bool {
        matches!(self, ActionKind::Delete | ActionKind::FlagDeleted { .. })
    }
}

/// Which side changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Graph,
    Crm,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Graph => "Graph",
            Side::Crm => "the CRM",
        })
    }
}

/// The mass-delete guard's verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GuardStop {
    /// Deletes and flags the plan would make.
    pub deletes: usize,
    /// The mailbox's linked items of the resource.
    pub linked: usize,
    /// `floor(share × linked)`.
    pub limit: usize,
    pub share: f64,
    pub min_count: usize,
}

impl fmt::Display for GuardStop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "mass-delete guard: {} of {} linked items would be deleted or flagged, more than {} % ({}) and \
             more than {}",
            self.deletes,
            self.linked,
            self.share * 100.0,
            self.limit,
            self.min_count
        )
    }
}

/// Why an action was planned. `Display` is the sentence `plan` and `explain` print.
#[derive(Debug, Clone, PartialEq)]
pub enum Reason {
    NewInGraph,
    NewPublished,
    NewInCrm,
    Adopted(FoundBy),
    KnownInMailbox {
        mailbox: String,
    },
    OrganizerCopyJoined,
    Edited(Side),
    EditedOutsideWindow,
    Echo(Side),
    Converged,
    Conflict {
        policy: ConflictPolicy,
        winner: Side,
        fields: Vec<String>,
    },
    ConflictManual {
        fields: Vec<String>,
    },
    ConflictNotWritable {
        winner: Side,
        fields: Vec<String>,
    },
    NotAuthoritative(Side),
    PublishedReadOnly,
    DirectionBlocked(Flow),
    CreateBlocked(Side),
    CancelledNeverSynced,
    NeverSynced,
    GraphRemoved,
    Cancelled,
    AttendeeCopyRemoved,
    Declined,
    OutsideWindow {
        linked: bool,
    },
    CrmDeleted {
        propagate: bool,
    },
    CrmFlagged {
        propagate: bool,
    },
    LeftScope {
        remove_copy: bool,
    },
    RemovalUnlinksOnly,
    BothDeleted,
    Superseded(Side),
    MassDeleteHeld {
        action: &'static str,
    },
}

impl Reason {
    /// A stable snake_case code for JSON output and tests.
    pub fn code(&self) -> &'static str {
        match self {
            Reason::NewInGraph => "new_in_graph",
            Reason::NewPublished => "new_published",
            Reason::NewInCrm => "new_in_crm",
            Reason::Adopted(_) => "adopted",
            Reason::KnownInMailbox { .. } => "known_in_mailbox",
            Reason::OrganizerCopyJoined => "organizer_copy_joined",
            Reason::Edited(Side::Graph) => "edited_in_graph",
            Reason::Edited(Side::Crm) => "edited_in_crm",
            Reason::EditedOutsideWindow => "edited_outside_window",
            Reason::Echo(_) => "echo",
            Reason::Converged => "converged",
            Reason::Conflict { .. } => "conflict_resolved",
            Reason::ConflictManual { .. } => "conflict_manual",
            Reason::ConflictNotWritable { .. } => "conflict_not_writable",
            Reason::NotAuthoritative(_) => "not_authoritative",
            Reason::PublishedReadOnly => "published_read_only",
            Reason::DirectionBlocked(_) => "direction_blocked",
            Reason::CreateBlocked(_) => "create_blocked",
            Reason::CancelledNeverSynced => "cancelled_never_synced",
            Reason::NeverSynced => "never_synced",
            Reason::GraphRemoved => "graph_removed",
            Reason::Cancelled => "cancelled",
            Reason::AttendeeCopyRemoved => "attendee_copy_removed",
            Reason::Declined => "declined",
            Reason::OutsideWindow { .. } => "outside_window",
            Reason::CrmDeleted { .. } => "crm_deleted",
            Reason::CrmFlagged { .. } => "crm_flagged",
            Reason::LeftScope { .. } => "left_scope",
            Reason::RemovalUnlinksOnly => "removal_unlinks_only",
            Reason::BothDeleted => "both_deleted",
            Reason::Superseded(_) => "superseded",
            Reason::MassDeleteHeld { .. } => "mass_delete_held",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::NewInGraph => f.write_str("new in Graph and no CRM record found: create it"),
            Reason::NewPublished => f.write_str(
                "new meeting organized by someone who is not a synced rep: create it as published \
                 (Graph → CRM only)",
            ),
            Reason::NewInCrm => f.write_str("new in the CRM and no Graph item found: create it"),
            Reason::Adopted(by) => write!(
                f,
                "an existing item was found by {by}: link it instead of creating a duplicate"
            ),
            Reason::KnownInMailbox { mailbox } => write!(
                f,
                "the same item is already linked in mailbox {mailbox}: add this rep as participant of \
                 that record"
            ),
            Reason::OrganizerCopyJoined => f.write_str(
                "this is the organizer's copy: it speaks for the meeting, so its fields are written",
            ),
            Reason::Edited(side) => write!(f, "changed in {side} since the last sync"),
            Reason::EditedOutsideWindow => f.write_str(
                "changed and moved outside the sync window: a linked item is still updated, not deleted",
            ),
            Reason::Echo(side) => write!(
                f,
                "unchanged in {side}: the content hash equals the link's (our own write coming back, or \
                 a change of unmapped properties)"
            ),
            Reason::Converged => {
                f.write_str("changed on both sides to the same values: nothing to write")
            }
            Reason::Conflict {
                policy,
                winner,
                fields,
            } => write!(
                f,
                "changed on both sides since the last sync; {policy}: {winner}'s values of {} are kept",
                fields.join(", ")
            ),
            Reason::ConflictManual { fields } => write!(
                f,
                "changed on both sides since the last sync and the policy is manual for {}: quarantined, \
                 nothing overwritten",
                fields.join(", ")
            ),
            Reason::ConflictNotWritable { winner, fields } => write!(
                f,
                "changed on both sides; {winner} wins {} but this resource or copy does not write that \
                 way: both sides keep their values",
                fields.join(", ")
            ),
            Reason::NotAuthoritative(Side::Graph) => f.write_str(
                "an attendee's copy changed: only the organizer's copy updates the meeting's fields",
            ),
            Reason::NotAuthoritative(Side::Crm) => f.write_str(
                "CRM edits are written to the organizer's copy only; this mailbox holds an attendee's copy",
            ),
            Reason::PublishedReadOnly => f.write_str(
                "published meeting (its organizer is not a synced rep): never written to Graph",
            ),
            Reason::DirectionBlocked(Flow::GraphToCrm) => {
                f.write_str("this resource does not sync Graph → CRM")
            }
            Reason::DirectionBlocked(Flow::CrmToGraph) => {
                f.write_str("this resource does not sync CRM → Graph")
            }
            Reason::CreateBlocked(Side::Graph) => f.write_str(
                "new Graph items of this resource do not create CRM records; only linked items sync",
            ),
            Reason::CreateBlocked(Side::Crm) => f.write_str(
                "new CRM records of this resource do not create Graph items; only linked items sync",
            ),
            Reason::CancelledNeverSynced => {
                f.write_str("cancelled meeting that was never synced: not created")
            }
            Reason::NeverSynced => f.write_str("gone, but it was never linked: nothing to do"),
            Reason::GraphRemoved => {
                f.write_str("removed from the mailbox: the resource's deletion rule applies")
            }
            Reason::Cancelled => {
                f.write_str("cancelled by the organizer: the resource's deletion rule applies")
            }
            Reason::AttendeeCopyRemoved => f.write_str(
                "an attendee removed their copy: that rep leaves the record, the meeting stays",
            ),
            Reason::Declined => {
                f.write_str("the rep declined: that rep leaves the record, the meeting stays")
            }
            Reason::OutsideWindow { linked: true } => f.write_str(
                "left the sync window or a filter: not a delete; the record and link stay",
            ),
            Reason::OutsideWindow { linked: false } => {
                f.write_str("outside the sync window or a filter and never synced: ignored")
            }
            Reason::CrmDeleted { propagate: true } => {
                f.write_str("deleted in the CRM: the linked Graph item is deleted (on_crm_delete)")
            }
            Reason::CrmDeleted { propagate: false } => f.write_str(
                "deleted in the CRM: the Graph item is left and the link dropped (on_crm_delete or not \
                 the writing copy)",
            ),
            Reason::CrmFlagged { propagate: true } => {
                f.write_str("flagged deleted in the CRM: the linked Graph item is deleted")
            }
            Reason::CrmFlagged { propagate: false } => f.write_str(
                "flagged deleted in the CRM: the Graph item is left (on_crm_delete or not the writing copy)",
            ),
            Reason::LeftScope { remove_copy: true } => f.write_str(
                "left the CRM filter or selection: the Graph item the connector created is removed",
            ),
            Reason::LeftScope { remove_copy: false } => {
                f.write_str("left the CRM filter or selection: unlinked, nothing deleted")
            }
            Reason::RemovalUnlinksOnly => f.write_str(
                "removed from the mailbox: this resource's deletion rule only drops the link",
            ),
            Reason::BothDeleted => f.write_str("gone on both sides: the link is dropped"),
            Reason::Superseded(side) => write!(
                f,
                "superseded: the item was removed in {side} in the same cycle"
            ),
            Reason::MassDeleteHeld { action } => write!(
                f,
                "held by the mass-delete guard (would {action}); rerun with --allow-mass-delete to apply"
            ),
        }
    }
}

impl Serialize for Reason {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Reason", 2)?;
        st.serialize_field("code", self.code())?;
        st.serialize_field("message", &self.to_string())?;
        st.end()
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.direction, self.kind.name())?;
        if let Some(id) = &self.graph_id {
            write!(f, " graph={id}")?;
        }
        if let Some(crm) = &self.crm {
            write!(f, " crm={crm}")?;
        }
        if let Some(master) = &self.series_master {
            write!(f, " master={master}")?;
        }
        if let Some(subject) = &self.subject {
            write!(f, " {subject:?}")?;
        }
        match &self.kind {
            ActionKind::Create { fields, published } => {
                if *published {
                    f.write_str(" published")?;
                }
                write_fields(f, fields)?;
            }
            ActionKind::Update { fields } => write_fields(f, fields)?,
            ActionKind::Adopt { found_by, fields } => {
                write!(f, "\n    found by: {found_by}")?;
                write_fields(f, fields)?;
            }
            ActionKind::FlagDeleted { field } => write!(f, " {field}=true")?,
            ActionKind::AddParticipant {
                authoritative: true,
            } => f.write_str(" authoritative")?,
            ActionKind::Conflict { fields } => write!(f, " fields={}", fields.join(","))?,
            _ => {}
        }
        write!(f, "\n    reason: {}", self.reason)
    }
}

fn write_fields(f: &mut fmt::Formatter<'_>, fields: &Fields) -> fmt::Result {
    if fields.is_empty() {
        return Ok(());
    }
    f.write_str("\n    fields:")?;
    for (name, value) in fields.iter() {
        match value {
            FieldValue::Text(s) => write!(f, " {name}={s:?}")?,
            other => write!(f, " {name}={}", other.to_json())?,
        }
    }
    Ok(())
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.actions.len();
        let noun = if n == 1 { "action" } else { "actions" };
        writeln!(
            f,
            "plan for mailbox {}, resource {}: {n} {noun}",
            self.mailbox, self.resource
        )?;
        for action in &self.actions {
            writeln!(f, "{action}")?;
        }
        if let Some(stop) = &self.stopped {
            writeln!(
                f,
                "stopped: {stop}; no deletes applied, the cursor must not advance"
            )?;
        }
        if let Some(stop) = &self.overridden {
            writeln!(
                f,
                "overridden: {stop}; applied because of --allow-mass-delete"
            )?;
        }
        Ok(())
    }
}
