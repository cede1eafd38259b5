//! The planner: one mailbox's Graph changes and CRM changes, the links and the policy → the actions that
//! bring both sides in step, each with its reason. Pure: no I/O, no clock; the runner fills the inputs and
//! applies the plan.
//!
//! Rules (docs/sync-rules.md has the administrator's view):
//! - change detection compares content hashes with the link's, never timestamps, so our own write coming
//!   back is an echo (`skip`), never a change;
//! - both sides changed → [`ConflictPolicy`] per field (overrides may split one conflict into an update
//!   each way; `manual` quarantines);
//! - removal follows the deletion rule ([`GraphRemoval`], [`CrmDelete`]); leaving the window, a filter or
//!   the selection is never a delete;
//! - adopt before create; one meeting or e-mail in several mailboxes is one record, written only from its
//!   authoritative copy, the others add their rep as participant; declines remove that rep only;
//! - series masters come before their occurrences, and each occurrence names its master;
//! - the mass-delete guard holds every delete and flag of a plan that would remove too much.
//!
//! The output order is deterministic: Graph changes (masters and single items, then occurrences, each by
//! Graph id), then CRM-only changes by table and id. A later change of the same item in the input replaces
//! an earlier one (delta order).

mod action;
mod conflict;
mod crm;
mod graph;
mod hash;
mod input;
mod policy;

use std::collections::{BTreeMap, HashMap};

pub use action::{Action, ActionKind, Flow, GuardStop, Plan, Reason, Side};
pub use hash::{canonical, content_hash};
pub use input::{
    Candidates, Changes, Content, Correlation, CrmCandidate, CrmChange, CrmKind, CrmRef, Fields,
    FoundBy, GraphCandidate, GraphChange, GraphKind, Link, Organizer, Origin, Series,
};
pub use policy::{ConflictPolicy, CrmDelete, GraphRemoval, MassDeleteGuard, Policy};

/// Plans one mailbox and resource. `links` may hold links of every mailbox for this resource (the
/// runner passes at least those sharing a correlation key with a change); links of other mailboxes created
/// earlier in the same cycle must be included, so copies met later join the record instead of duplicating.
pub fn plan(policy: &Policy, changes: &Changes, links: &[Link], candidates: &Candidates) -> Plan {
    let mut planner = Planner::new(policy, changes, links, candidates);
    for change in graph_order(&changes.graph) {
        planner.graph_change(change);
    }
    let rest: Vec<&CrmChange> = planner.crm_changes.values().copied().collect();
    for change in rest {
        planner.crm_change(change);
    }
    let linked = planner.mine_by_graph.len();
    let mut plan = Plan {
        mailbox: changes.mailbox.clone(),
        resource: changes.resource.clone(),
        actions: planner.actions,
        stopped: None,
        overridden: None,
    };
    guard(&mut plan, linked, &policy.mass_delete);
    plan
}

/// Graph changes deduplicated (last wins) and in planning order: masters and single items before
/// occurrences and exceptions, each group by Graph id.
fn graph_order(changes: &[GraphChange]) -> Vec<&GraphChange> {
    let mut last: HashMap<&str, &GraphChange> = HashMap::new();
    for change in changes {
        last.insert(&change.graph_id, change);
    }
    let mut ordered: Vec<&GraphChange> = last.into_values().collect();
    ordered.sort_by(|a, b| {
        let rank = |c: &GraphChange| c.series.as_ref().and_then(Series::master).is_some();
        (rank(a), &a.graph_id).cmp(&(rank(b), &b.graph_id))
    });
    ordered
}

/// Applies the mass-delete guard to a finished plan.
fn guard(plan: &mut Plan, linked: usize, guard: &MassDeleteGuard) {
    let deletes = plan
        .actions
        .iter()
        .filter(|a| a.kind.is_destructive())
        .count();
    if deletes == 0 || !guard.trips(deletes, linked) {
        return;
    }
    let stop = GuardStop {
        deletes,
        linked,
        limit: guard.limit(linked),
        share: guard.share,
        min_count: guard.min_count,
    };
    if guard.allow {
        plan.overridden = Some(stop);
        return;
    }
    for action in &mut plan.actions {
        if action.kind.is_destructive() {
            let held = match &action.kind {
                ActionKind::FlagDeleted { .. } => "flag the record deleted",
                _ if action.direction == Flow::GraphToCrm => "delete the CRM record",
                _ => "delete the Graph item",
            };
            action.kind = ActionKind::Skip;
            action.reason = Reason::MassDeleteHeld { action: held };
        }
    }
    plan.stopped = Some(stop);
}

/// Planning state: the indexes of one `plan` call and the actions so far.
struct Planner<'a> {
    policy: &'a Policy,
    /// This mailbox's links by Graph id and by record.
    mine_by_graph: BTreeMap<&'a str, &'a Link>,
    mine_by_record: BTreeMap<&'a CrmRef, &'a Link>,
    /// Other mailboxes' links by correlation key, authoritative first, then by mailbox.
    others_by_key: BTreeMap<String, Vec<&'a Link>>,
    candidates: &'a Candidates,
    /// CRM changes not yet planned, by record (last wins).
    crm_changes: BTreeMap<&'a CrmRef, &'a CrmChange>,
    actions: Vec<Action>,
}

impl<'a> Planner<'a> {
    fn new(
        policy: &'a Policy,
        changes: &'a Changes,
        links: &'a [Link],
        candidates: &'a Candidates,
    ) -> Self {
        let mut mine_by_graph = BTreeMap::new();
        let mut mine_by_record = BTreeMap::new();
        let mut others_by_key: BTreeMap<String, Vec<&Link>> = BTreeMap::new();
        for link in links {
            if link.mailbox == changes.mailbox {
                mine_by_graph.entry(link.graph_id.as_str()).or_insert(link);
                mine_by_record.entry(&link.record).or_insert(link);
            } else if let Some(key) = &link.correlation {
                others_by_key.entry(key.key()).or_default().push(link);
            }
        }
        for list in others_by_key.values_mut() {
            list.sort_by(|a, b| {
                (!a.authoritative, &a.mailbox, &a.graph_id).cmp(&(
                    !b.authoritative,
                    &b.mailbox,
                    &b.graph_id,
                ))
            });
        }
        let crm_changes = changes.crm.iter().map(|c| (&c.record, c)).collect();
        Planner {
            policy,
            mine_by_graph,
            mine_by_record,
            others_by_key,
            candidates,
            crm_changes,
            actions: Vec::new(),
        }
    }

    fn push(&mut self, action: Action) {
        self.actions.push(action);
    }
}

/// Starts an action about a Graph change.
fn graph_action(change: &GraphChange, flow: Flow, kind: ActionKind, reason: Reason) -> Action {
    Action {
        direction: flow,
        kind,
        graph_id: Some(change.graph_id.clone()),
        crm: None,
        subject: change.subject.clone(),
        series_master: change
            .series
            .as_ref()
            .and_then(Series::master)
            .map(str::to_string),
        reason,
    }
}

/// Starts an action about a CRM change.
fn crm_action(change: &CrmChange, flow: Flow, kind: ActionKind, reason: Reason) -> Action {
    Action {
        direction: flow,
        kind,
        graph_id: None,
        crm: Some(change.record.clone()),
        subject: change.subject.clone(),
        series_master: None,
        reason,
    }
}
