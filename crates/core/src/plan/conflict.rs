//! Both sides changed since the last sync: each differing field goes to the side its policy picks, so
//! per-field overrides can split one conflict into an update each way; `manual` quarantines the item.

use jiff::Timestamp;

use super::graph::authoritative;
use super::hash::canonical;
use super::{
    Action, ActionKind, ConflictPolicy, Content, CrmChange, Fields, Flow, GraphChange, Link,
    Planner, Reason, Side, graph_action,
};
use crate::mapping::FieldValue;

impl<'a> Planner<'a> {
    pub(super) fn conflict(
        &mut self,
        change: &'a GraphChange,
        graph: &Content,
        crm_change: &'a CrmChange,
        crm: &Content,
        link: &'a Link,
    ) {
        let differing = differing_fields(&graph.fields, &crm.fields);
        let with_record = |mut action: Action| {
            action.crm = Some(link.record.clone());
            action
        };
        if differing.is_empty() {
            let action = graph_action(
                change,
                Flow::GraphToCrm,
                ActionKind::Skip,
                Reason::Converged,
            );
            return self.push(with_record(action));
        }
        let newest = newest(change.last_modified, crm_change.last_modified);
        let mut manual = Vec::new();
        let (mut to_crm, mut to_graph) = (Fields::default(), Fields::default());
        let (mut graph_won, mut crm_won) = (Vec::new(), Vec::new());
        let mut policies = (None, None);
        for name in &differing {
            let policy = self.policy.conflict_for(name);
            let winner = match policy {
                ConflictPolicy::CrmWins => Side::Crm,
                ConflictPolicy::GraphWins => Side::Graph,
                ConflictPolicy::NewestWins => newest,
                ConflictPolicy::Manual => {
                    manual.push(name.clone());
                    continue;
                }
            };
            // A field absent on the winning side is cleared on the other.
            let (side_fields, target, won, slot) = match winner {
                Side::Graph => (&graph.fields, &mut to_crm, &mut graph_won, &mut policies.0),
                Side::Crm => (&crm.fields, &mut to_graph, &mut crm_won, &mut policies.1),
            };
            let value = side_fields
                .get(name)
                .cloned()
                .unwrap_or_else(|| FieldValue::Text(String::new()));
            target.0.insert(name.clone(), value);
            won.push(name.clone());
            slot.get_or_insert(policy);
        }
        if !manual.is_empty() {
            let action = graph_action(
                change,
                Flow::GraphToCrm,
                ActionKind::Conflict {
                    fields: differing.clone(),
                },
                Reason::ConflictManual { fields: manual },
            );
            return self.push(with_record(action));
        }
        let writes_crm = self.policy.graph_to_crm() && authoritative(change, link);
        let writes_graph = self.policy.crm_to_graph() && link.authoritative && !link.published;
        for (side, fields, won, policy, writable, flow) in [
            (
                Side::Graph,
                to_crm,
                graph_won,
                policies.0,
                writes_crm,
                Flow::GraphToCrm,
            ),
            (
                Side::Crm,
                to_graph,
                crm_won,
                policies.1,
                writes_graph,
                Flow::CrmToGraph,
            ),
        ] {
            let Some(policy) = policy else { continue };
            let (kind, reason) = if writable {
                (
                    ActionKind::Update { fields },
                    Reason::Conflict {
                        policy,
                        winner: side,
                        fields: won,
                    },
                )
            } else {
                (
                    ActionKind::Skip,
                    Reason::ConflictNotWritable {
                        winner: side,
                        fields: won,
                    },
                )
            };
            let action = graph_action(change, flow, kind, reason);
            self.push(with_record(action));
        }
    }
}

/// Field names whose canonical values differ (a field missing on one side counts as empty), sorted.
fn differing_fields(graph: &Fields, crm: &Fields) -> Vec<String> {
    let value = |fields: &Fields, name: &str| fields.get(name).map(canonical).unwrap_or_default();
    let mut names: Vec<&String> = graph.keys().chain(crm.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter(|name| value(graph, name) != value(crm, name))
        .cloned()
        .collect()
}

/// The side changed last; equal or unknown times: the CRM, the system of record.
fn newest(graph: Option<Timestamp>, crm: Option<Timestamp>) -> Side {
    match (graph, crm) {
        (Some(g), Some(c)) if g > c => Side::Graph,
        _ => Side::Crm,
    }
}
