//! Planning one CRM change that no Graph change of the same item accompanies: new records, edits,
//! deletes, deletion flags and records leaving the filter or selection.

use super::{
    ActionKind, CrmChange, CrmDelete, CrmKind, Flow, Link, Origin, Planner, Reason, Side,
    crm_action,
};

impl<'a> Planner<'a> {
    pub(super) fn crm_change(&mut self, change: &'a CrmChange) {
        let link = self.mine_by_record.get(&change.record).copied();
        let Some(link) = link else {
            return self.unlinked_record(change);
        };
        let (kind, reason) = match &change.kind {
            CrmKind::Upserted(content) => {
                if content.hash() == link.crm_hash {
                    (ActionKind::Skip, Reason::Echo(Side::Crm))
                } else if !self.policy.crm_to_graph() {
                    (ActionKind::Skip, Reason::DirectionBlocked(Flow::CrmToGraph))
                } else if link.published {
                    (ActionKind::Skip, Reason::PublishedReadOnly)
                } else if !link.authoritative {
                    (ActionKind::Skip, Reason::NotAuthoritative(Side::Crm))
                } else {
                    let fields = content.fields.clone();
                    (ActionKind::Update { fields }, Reason::Edited(Side::Crm))
                }
            }
            CrmKind::Deleted | CrmKind::FlaggedDeleted => {
                let deleted = change.kind == CrmKind::Deleted;
                let propagate = self.writes_graph(link)
                    && self.policy.on_crm_delete == CrmDelete::DeleteGraphItem;
                let reason = if deleted {
                    Reason::CrmDeleted { propagate }
                } else {
                    Reason::CrmFlagged { propagate }
                };
                let kind = match (propagate, deleted) {
                    (true, _) => ActionKind::Delete,
                    // The record is gone: the link points nowhere.
                    (false, true) => ActionKind::Unlink,
                    // The flagged record stays: keep the link so the item is not created again.
                    (false, false) => ActionKind::Skip,
                };
                (kind, reason)
            }
            CrmKind::LeftScope => {
                let remove_copy = self.policy.remove_created_copies
                    && link.origin == Origin::Crm
                    && self.writes_graph(link);
                let kind = if remove_copy {
                    ActionKind::Delete
                } else {
                    ActionKind::Unlink
                };
                (kind, Reason::LeftScope { remove_copy })
            }
        };
        let mut action = crm_action(change, Flow::CrmToGraph, kind, reason);
        action.graph_id = Some(link.graph_id.clone());
        self.push(action);
    }

    /// Whether this mailbox's copy may be written from the CRM.
    fn writes_graph(&self, link: &Link) -> bool {
        self.policy.crm_to_graph() && link.authoritative && !link.published
    }

    /// A CRM change of a record this mailbox has no link for.
    fn unlinked_record(&mut self, change: &'a CrmChange) {
        let skip = |reason| crm_action(change, Flow::CrmToGraph, ActionKind::Skip, reason);
        let CrmKind::Upserted(content) = &change.kind else {
            return self.push(skip(Reason::NeverSynced));
        };
        if !self.policy.crm_to_graph() {
            return self.push(skip(Reason::DirectionBlocked(Flow::CrmToGraph)));
        }
        if !self.policy.create_in_graph {
            return self.push(skip(Reason::CreateBlocked(Side::Crm)));
        }
        let fields = content.fields.clone();
        let candidate = self
            .candidates
            .graph
            .iter()
            .find(|c| c.record == change.record);
        if let (true, Some(candidate)) = (self.policy.adopt, candidate) {
            let found_by = candidate.found_by.clone();
            let mut action = crm_action(
                change,
                Flow::CrmToGraph,
                ActionKind::Adopt {
                    found_by: found_by.clone(),
                    fields,
                },
                Reason::Adopted(found_by),
            );
            action.graph_id = Some(candidate.graph_id.clone());
            return self.push(action);
        }
        self.push(crm_action(
            change,
            Flow::CrmToGraph,
            ActionKind::Create {
                fields,
                published: false,
            },
            Reason::NewInCrm,
        ));
    }
}
