//! Planning one Graph change: new copies (join, adopt, create), edits, removals, cancellations, declines
//! and items outside the window, together with a CRM change of the same linked record.

use super::{
    Action, ActionKind, Content, CrmChange, CrmKind, Flow, GraphChange, GraphKind, GraphRemoval,
    Link, Planner, Reason, Side, graph_action,
};

impl<'a> Planner<'a> {
    pub(super) fn graph_change(&mut self, change: &'a GraphChange) {
        let link = self.mine_by_graph.get(change.graph_id.as_str()).copied();
        // A CRM change of the same record is planned together with this one.
        let paired = link.and_then(|l| self.crm_changes.remove(&l.record));
        let Some(link) = link else {
            self.unlinked(change);
            return;
        };
        match &change.kind {
            GraphKind::Declined => {
                self.linked_action(
                    change,
                    link,
                    ActionKind::RemoveParticipant,
                    Reason::Declined,
                );
                self.superseded(paired, Side::Graph);
            }
            GraphKind::Removed => self.removal(change, link, paired, Reason::GraphRemoved),
            GraphKind::Upserted(_) if change.is_cancelled => {
                self.removal(change, link, paired, Reason::Cancelled)
            }
            GraphKind::Upserted(content) => {
                self.linked_upsert(change, content, link, paired, false)
            }
            GraphKind::OutsideWindow(Some(content)) => {
                self.linked_upsert(change, content, link, paired, true)
            }
            GraphKind::OutsideWindow(None) => {
                self.linked_action(
                    change,
                    link,
                    ActionKind::Skip,
                    Reason::OutsideWindow { linked: true },
                );
                if let Some(crm) = paired {
                    self.crm_change(crm);
                }
            }
        }
    }

    /// A change of an item this mailbox has no link for.
    fn unlinked(&mut self, change: &'a GraphChange) {
        let skip = |reason| graph_action(change, Flow::GraphToCrm, ActionKind::Skip, reason);
        let content = match &change.kind {
            GraphKind::Upserted(content) => content,
            GraphKind::OutsideWindow(_) => {
                return self.push(skip(Reason::OutsideWindow { linked: false }));
            }
            GraphKind::Removed | GraphKind::Declined => {
                return self.push(skip(Reason::NeverSynced));
            }
        };
        if change.is_cancelled {
            return self.push(skip(Reason::CancelledNeverSynced));
        }
        if !self.policy.graph_to_crm() {
            return self.push(skip(Reason::DirectionBlocked(Flow::GraphToCrm)));
        }
        let organizer_copy = change
            .organizer
            .is_some_and(|o| o.is_self && o.is_synced_rep);
        // Another synced mailbox holds a copy of the same meeting or e-mail: one record.
        let other = change
            .correlation
            .as_ref()
            .and_then(|c| self.others_by_key.get(&c.key()))
            .and_then(|list| list.first())
            .copied();
        if let Some(other) = other {
            let mut join = graph_action(
                change,
                Flow::GraphToCrm,
                ActionKind::AddParticipant {
                    authoritative: organizer_copy,
                },
                Reason::KnownInMailbox {
                    mailbox: other.mailbox.clone(),
                },
            );
            join.crm = Some(other.record.clone());
            self.push(join);
            if organizer_copy {
                let mut update = graph_action(
                    change,
                    Flow::GraphToCrm,
                    ActionKind::Update {
                        fields: content.fields.clone(),
                    },
                    Reason::OrganizerCopyJoined,
                );
                update.crm = Some(other.record.clone());
                self.push(update);
            }
            return;
        }
        if !self.policy.create_from_graph {
            return self.push(skip(Reason::CreateBlocked(Side::Graph)));
        }
        let published = change.organizer.is_some_and(|o| !o.is_synced_rep);
        let mut fields = content.fields.clone();
        if let (true, Some(flag)) = (published, &self.policy.published_field) {
            fields
                .0
                .insert(flag.clone(), crate::mapping::FieldValue::Bool(true));
        }
        if self.policy.adopt
            && let Some(candidate) = self.crm_candidate(change)
        {
            let mut adopt = graph_action(
                change,
                Flow::GraphToCrm,
                ActionKind::Adopt {
                    found_by: candidate.found_by.clone(),
                    fields,
                },
                Reason::Adopted(candidate.found_by.clone()),
            );
            adopt.crm = Some(candidate.record.clone());
            return self.push(adopt);
        }
        let reason = if published {
            Reason::NewPublished
        } else {
            Reason::NewInGraph
        };
        self.push(graph_action(
            change,
            Flow::GraphToCrm,
            ActionKind::Create { fields, published },
            reason,
        ));
    }

    /// The adoption candidate for a Graph item: by its id (our stamp) first, then by correlation key.
    fn crm_candidate(&self, change: &GraphChange) -> Option<&'a super::CrmCandidate> {
        let by_id = self
            .candidates
            .crm
            .iter()
            .find(|c| c.graph_id.as_deref() == Some(change.graph_id.as_str()));
        by_id.or_else(|| {
            let key = change.correlation.as_ref()?.key();
            self.candidates
                .crm
                .iter()
                .find(|c| c.correlation.as_ref().is_some_and(|k| k.key() == key))
        })
    }

    /// A created, changed or (with content) out-of-window linked item.
    fn linked_upsert(
        &mut self,
        change: &'a GraphChange,
        content: &Content,
        link: &'a Link,
        paired: Option<&'a CrmChange>,
        outside: bool,
    ) {
        let graph_changed = content.hash() != link.graph_hash;
        match paired.map(|c| (c, &c.kind)) {
            Some((crm, CrmKind::Upserted(crm_content))) => {
                let crm_changed = crm_content.hash() != link.crm_hash;
                if graph_changed && crm_changed {
                    return self.conflict(change, content, crm, crm_content, link);
                }
                // At most one side changed: plan each on its own.
                self.graph_side(change, content, link, graph_changed, outside);
                self.crm_change(crm);
            }
            Some((crm, _)) => {
                // The record was deleted, flagged or left the scope: that decides.
                self.crm_change(crm);
                if graph_changed {
                    self.linked_action(
                        change,
                        link,
                        ActionKind::Skip,
                        Reason::Superseded(Side::Crm),
                    );
                }
            }
            None => self.graph_side(change, content, link, graph_changed, outside),
        }
    }

    /// The Graph side of a linked item when the CRM side did not change too.
    fn graph_side(
        &mut self,
        change: &'a GraphChange,
        content: &Content,
        link: &'a Link,
        changed: bool,
        outside: bool,
    ) {
        let (kind, reason) = if !changed {
            (ActionKind::Skip, Reason::Echo(Side::Graph))
        } else if !self.policy.graph_to_crm() {
            (ActionKind::Skip, Reason::DirectionBlocked(Flow::GraphToCrm))
        } else if !authoritative(change, link) {
            (ActionKind::Skip, Reason::NotAuthoritative(Side::Graph))
        } else {
            let reason = if outside {
                Reason::EditedOutsideWindow
            } else {
                Reason::Edited(Side::Graph)
            };
            let fields = content.fields.clone();
            (ActionKind::Update { fields }, reason)
        };
        self.linked_action(change, link, kind, reason);
    }

    /// Removal or cancellation of a linked item.
    fn removal(
        &mut self,
        change: &'a GraphChange,
        link: &'a Link,
        paired: Option<&'a CrmChange>,
        reason: Reason,
    ) {
        if let Some(CrmKind::Deleted) = paired.map(|c| &c.kind) {
            return self.linked_action(change, link, ActionKind::Unlink, Reason::BothDeleted);
        }
        // An attendee deleting their copy removes only them; a cancellation speaks for the meeting.
        if !authoritative(change, link) && reason == Reason::GraphRemoved {
            self.linked_action(
                change,
                link,
                ActionKind::RemoveParticipant,
                Reason::AttendeeCopyRemoved,
            );
        } else if !self.policy.graph_to_crm() {
            self.linked_action(change, link, ActionKind::Unlink, Reason::RemovalUnlinksOnly);
        } else {
            let (kind, reason) = match &self.policy.on_graph_removal {
                GraphRemoval::Flag(field) => (
                    ActionKind::FlagDeleted {
                        field: field.clone(),
                    },
                    reason,
                ),
                GraphRemoval::Delete => (ActionKind::Delete, reason),
                GraphRemoval::Unlink => (ActionKind::Unlink, Reason::RemovalUnlinksOnly),
            };
            self.linked_action(change, link, kind, reason);
        }
        self.superseded(paired, Side::Graph);
    }

    /// A paired CRM change made moot by what happened to the Graph copy.
    fn superseded(&mut self, paired: Option<&'a CrmChange>, side: Side) {
        if let Some(crm) = paired {
            let mut action = super::crm_action(
                crm,
                Flow::CrmToGraph,
                ActionKind::Skip,
                Reason::Superseded(side),
            );
            action.graph_id = self
                .mine_by_record
                .get(&crm.record)
                .map(|l| l.graph_id.clone());
            self.push(action);
        }
    }

    /// An action about a linked Graph item (flows Graph → CRM).
    pub(super) fn linked_action(
        &mut self,
        change: &GraphChange,
        link: &Link,
        kind: ActionKind,
        reason: Reason,
    ) {
        let mut action: Action = graph_action(change, Flow::GraphToCrm, kind, reason);
        action.crm = Some(link.record.clone());
        self.push(action);
    }
}

/// Whether this copy may write the record's fields: the link says so, or the change shows the
/// organizer's own copy.
pub(super) fn authoritative(change: &GraphChange, link: &Link) -> bool {
    link.authoritative
        || change
            .organizer
            .is_some_and(|o| o.is_self && o.is_synced_rep)
}
