//! What an administrator decides per resource: who wins a conflict, which way items flow, what a deletion
//! does, whether existing records are adopted, and when the mass-delete guard stops a cycle.
//!
//! [`Policy::default_for`] holds the shipped defaults (docs/sync-rules.md explains each);
//! [`Policy::from_mapping`] takes the direction and deletion rules from a validated mapping on top.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::model::{self, Direction, OnGraphDelete};

/// The planner's settings for one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Who wins when both sides changed since the last sync.
    pub conflict: ConflictPolicy,
    /// Per-field exceptions to `conflict` (CRM field name → policy).
    #[serde(default)]
    pub field_conflicts: IndexMap<String, ConflictPolicy>,
    /// Which way items flow (the mapping's `direction`).
    pub direction: Direction,
    /// Whether a Graph item with no CRM record creates one. `false`: only edits of linked items flow.
    pub create_from_graph: bool,
    /// Whether a CRM record with no Graph item creates one.
    pub create_in_graph: bool,
    /// What the removal of a linked Graph item (or the organizer's cancellation) does to the CRM record.
    pub on_graph_removal: GraphRemoval,
    /// What a CRM delete or deletion flag does to the linked Graph item.
    pub on_crm_delete: CrmDelete,
    /// When a record leaves the CRM filter or selection: delete the Graph items the connector created for
    /// it (`true`), or only unlink (`false`). Graph items that existed before are only unlinked.
    pub remove_created_copies: bool,
    /// Boolean CRM field set on records of meetings whose organizer is not a synced rep (Graph → CRM only).
    #[serde(default)]
    pub published_field: Option<String>,
    /// Link an existing CRM record (or Graph item) instead of creating a second one.
    pub adopt: bool,
    /// The mass-delete guard.
    pub mass_delete: MassDeleteGuard,
}

/// Conflict policy: whose values are kept when both sides changed since the last sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConflictPolicy {
    /// The CRM's values are written to Graph.
    CrmWins,
    /// Graph's values are written to the CRM.
    GraphWins,
    /// The side changed last wins; equal or unknown times: the CRM (the system of record).
    NewestWins,
    /// Nothing is overwritten: the item is quarantined and reported.
    Manual,
}

impl From<model::Conflict> for ConflictPolicy {
    fn from(c: model::Conflict) -> Self {
        match c {
            model::Conflict::CrmWins => ConflictPolicy::CrmWins,
            model::Conflict::GraphWins => ConflictPolicy::GraphWins,
            model::Conflict::NewestWins => ConflictPolicy::NewestWins,
            model::Conflict::Manual => ConflictPolicy::Manual,
        }
    }
}

impl std::fmt::Display for ConflictPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ConflictPolicy::CrmWins => "crm-wins",
            ConflictPolicy::GraphWins => "graph-wins",
            ConflictPolicy::NewestWins => "newest-wins",
            ConflictPolicy::Manual => "manual",
        })
    }
}

/// What the removal of a linked Graph item does on the CRM side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GraphRemoval {
    /// Set this boolean CRM field (`ConnectorDeleted`); the record stays. The default.
    Flag(String),
    /// Delete the CRM record. Never a default.
    Delete,
    /// Forget the link only; the record stays untouched.
    Unlink,
}

/// What a CRM delete or deletion flag does on the Graph side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CrmDelete {
    /// Delete the linked Graph item (from the authoritative copy only).
    DeleteGraphItem,
    /// Leave the Graph item; a deleted record's link is dropped.
    Leave,
}

/// The mass-delete guard: a cycle stops deleting when it would delete or flag more than `share` of a
/// mailbox's linked items of the resource **and** more than `min_count` items.
///
/// `limit = floor(share × linked)`; the guard trips when `deletes > limit && deletes > min_count`.
/// With the defaults (0.2, 5): 2 of 10 linked pass, 3 of 10 pass (≤ 5), 6 of 10 trip, 20 of 100 pass,
/// 21 of 100 trip, and 1 delete in a 3-item mailbox never trips.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MassDeleteGuard {
    /// Largest share of linked items one cycle may delete or flag (0.2 = 20 %).
    pub share: f64,
    /// Deletes up to this count never trip the guard, whatever the share.
    pub min_count: usize,
    /// `--allow-mass-delete`: apply the deletes even when the guard trips (reported).
    #[serde(default)]
    pub allow: bool,
}

impl Default for MassDeleteGuard {
    fn default() -> Self {
        MassDeleteGuard {
            share: 0.2,
            min_count: 5,
            allow: false,
        }
    }
}

impl MassDeleteGuard {
    /// The most deletes the share allows for `linked` items: `floor(share × linked)`.
    pub fn limit(&self, linked: usize) -> usize {
        // The epsilon keeps 0.2 × 10 at 2 despite binary fractions.
        let limit = (self.share.max(0.0) * linked as f64 + 1e-9).floor();
        limit as usize
    }

    /// Whether `deletes` deletes or flags out of `linked` linked items trip the guard.
    pub fn trips(&self, deletes: usize, linked: usize) -> bool {
        deletes > self.min_count && deletes > self.limit(linked)
    }
}

impl Policy {
    /// The shipped default for a resource (`event`, `message`, `task`, `contact`, `absence`); any other
    /// name gets the cautious generic default (crm-wins, flag on removal, both ways).
    pub fn default_for(resource: &str) -> Policy {
        let generic = Policy {
            conflict: ConflictPolicy::CrmWins,
            field_conflicts: IndexMap::new(),
            direction: Direction::Both,
            create_from_graph: true,
            create_in_graph: true,
            on_graph_removal: GraphRemoval::Flag("ConnectorDeleted".into()),
            on_crm_delete: CrmDelete::Leave,
            remove_created_copies: false,
            published_field: None,
            adopt: true,
            mass_delete: MassDeleteGuard::default(),
        };
        match resource {
            // Both sides edit appointments; a conflict means two edits within one interval, and the later
            // one is what the people involved saw last. The body stays Graph's: rewriting an organizer's
            // body mails every attendee and can drop the Teams join link.
            "event" => Policy {
                conflict: ConflictPolicy::NewestWins,
                field_conflicts: [("Text".to_string(), ConflictPolicy::GraphWins)]
                    .into_iter()
                    .collect(),
                published_field: Some("ConnectorPublished".into()),
                ..generic
            },
            // To Do tasks are personal and edited on both sides like appointments.
            "task" => Policy {
                conflict: ConflictPolicy::NewestWins,
                ..generic
            },
            // E-mails flow Graph → CRM only; a CRM user's edits of the filed e-mail (links, notes) are
            // curated data that a later Graph change must not overwrite. Deleting mail never touches the CRM.
            "message" => Policy {
                direction: Direction::GraphToCrm,
                create_in_graph: false,
                on_graph_removal: GraphRemoval::Unlink,
                ..generic
            },
            // The vendor: the CRM is the master of persons; Outlook edits reach linked contacts only.
            "contact" => Policy {
                create_from_graph: false,
                on_graph_removal: GraphRemoval::Unlink,
                on_crm_delete: CrmDelete::DeleteGraphItem,
                remove_created_copies: true,
                ..generic
            },
            // Absences are CRM data shown in the calendar; the connector owns those events.
            "absence" => Policy {
                direction: Direction::CrmToGraph,
                create_from_graph: false,
                on_graph_removal: GraphRemoval::Unlink,
                on_crm_delete: CrmDelete::DeleteGraphItem,
                remove_created_copies: true,
                ..generic
            },
            _ => generic,
        }
    }

    /// The default for the mapping's resource with the mapping's `direction` and `deletion` applied.
    pub fn from_mapping(mapping: &model::Resource) -> Policy {
        let mut policy = Policy::default_for(&mapping.name);
        policy.direction = mapping.direction;
        policy.on_graph_removal = match mapping.deletion.on_graph_delete {
            OnGraphDelete::Flag => GraphRemoval::Flag(mapping.deletion.flag_field.clone()),
            OnGraphDelete::Ignore => GraphRemoval::Unlink,
        };
        policy.on_crm_delete = if mapping.deletion.propagate_crm_delete {
            CrmDelete::DeleteGraphItem
        } else {
            CrmDelete::Leave
        };
        let sync = &mapping.sync;
        if let Some(c) = sync.conflict {
            policy.conflict = c.into();
        }
        for (field, c) in &sync.field_conflicts {
            policy.field_conflicts.insert(field.clone(), (*c).into());
        }
        if let Some(v) = sync.create_from_graph {
            policy.create_from_graph = v;
        }
        if let Some(v) = sync.create_in_graph {
            policy.create_in_graph = v;
        }
        if let Some(v) = sync.adopt {
            policy.adopt = v;
        }
        if let Some(guard) = &sync.mass_delete {
            policy.mass_delete.share = guard.share;
            policy.mass_delete.min_count = guard.min_count;
        }
        // The publication flag only where the template's form has it.
        if let (Some(flag), Some(form)) = (&policy.published_field, &mapping.form_fields)
            && !form.contains(flag)
        {
            policy.published_field = None;
        }
        policy
    }

    /// The policy deciding a conflict on `field`.
    pub fn conflict_for(&self, field: &str) -> ConflictPolicy {
        self.field_conflicts
            .get(field)
            .copied()
            .unwrap_or(self.conflict)
    }

    /// Whether Graph changes are written to the CRM.
    pub fn graph_to_crm(&self) -> bool {
        matches!(self.direction, Direction::GraphToCrm | Direction::Both)
    }

    /// Whether CRM changes are written to Graph.
    pub fn crm_to_graph(&self) -> bool {
        matches!(self.direction, Direction::CrmToGraph | Direction::Both)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_trips_one_above_the_share_not_at_it() {
        let guard = MassDeleteGuard {
            min_count: 0,
            ..MassDeleteGuard::default()
        };
        assert_eq!(guard.limit(10), 2);
        assert!(!guard.trips(2, 10), "exactly 20 % passes");
        assert!(guard.trips(3, 10), "one more trips");
        assert_eq!(guard.limit(100), 20);
        assert!(!guard.trips(20, 100));
        assert!(guard.trips(21, 100));
    }

    #[test]
    fn guard_minimum_count_protects_small_mailboxes() {
        let guard = MassDeleteGuard::default();
        assert!(!guard.trips(1, 3), "1 of 3 is a normal delete");
        assert!(!guard.trips(5, 5), "at the minimum count nothing trips");
        assert!(guard.trips(6, 10), "above both the minimum and the share");
        assert!(!guard.trips(6, 30), "6 of 30 is exactly 20 %");
        assert!(guard.trips(7, 30), "7 of 30 is one more");
        assert!(!guard.trips(0, 0));
    }

    #[test]
    fn defaults_follow_the_documented_table() {
        assert_eq!(
            Policy::default_for("event").conflict,
            ConflictPolicy::NewestWins
        );
        assert_eq!(
            Policy::default_for("event").conflict_for("Text"),
            ConflictPolicy::GraphWins
        );
        assert_eq!(
            Policy::default_for("contact").conflict,
            ConflictPolicy::CrmWins
        );
        assert_eq!(
            Policy::default_for("message").direction,
            Direction::GraphToCrm
        );
        assert_eq!(
            Policy::default_for("absence").direction,
            Direction::CrmToGraph
        );
        for resource in ["event", "message", "task", "contact", "absence", "other"] {
            let policy = Policy::default_for(resource);
            assert_ne!(policy.on_graph_removal, GraphRemoval::Delete, "{resource}");
            assert!(policy.adopt, "{resource}");
        }
    }

    #[test]
    fn from_mapping_takes_direction_and_deletion_from_the_mapping() {
        let mapping = model::Resource {
            name: "event".into(),
            table: "Contact".into(),
            content_type: "text/x-vevent".into(),
            form: None,
            direction: Direction::GraphToCrm,
            all_day: None,
            floating_dates: false,
            selection: None,
            filter: None,
            rules: Vec::new(),
            catalogs: IndexMap::new(),
            participants: None,
            deletion: model::Deletion {
                on_graph_delete: OnGraphDelete::Flag,
                flag_field: "Deleted".into(),
                propagate_crm_delete: true,
            },
            form_fields: None,
            sync: model::SyncSpec {
                conflict: Some(model::Conflict::Manual),
                field_conflicts: [("Subject".to_string(), model::Conflict::CrmWins)]
                    .into_iter()
                    .collect(),
                adopt: Some(false),
                mass_delete: Some(model::MassDelete {
                    share: 0.5,
                    min_count: 2,
                }),
                ..Default::default()
            },
        };
        let policy = Policy::from_mapping(&mapping);
        assert_eq!(policy.direction, Direction::GraphToCrm);
        assert_eq!(
            policy.on_graph_removal,
            GraphRemoval::Flag("Deleted".into())
        );
        assert_eq!(policy.on_crm_delete, CrmDelete::DeleteGraphItem);
        // The mapping's `sync` settings override the resource defaults.
        assert_eq!(policy.conflict, ConflictPolicy::Manual);
        assert_eq!(policy.conflict_for("Subject"), ConflictPolicy::CrmWins);
        assert_eq!(policy.conflict_for("Text"), ConflictPolicy::GraphWins);
        assert!(!policy.adopt);
        assert_eq!(policy.mass_delete.share, 0.5);
        assert_eq!(policy.mass_delete.min_count, 2);
    }
}
