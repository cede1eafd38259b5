//! The documented default policy of every resource (docs/sync-rules.md, "Policies per resource"), pinned
//! field by field: a default that changes silently changes what every installation's connector does.

use graph_connector_core::{
    model::Direction,
    plan::{ConflictPolicy, CrmDelete, GraphRemoval, Policy},
};
use pretty_assertions::assert_eq;

#[test]
fn events_are_newest_wins_with_the_body_graphs_and_both_ways() {
    let p = Policy::default_for("event");
    assert_eq!(p.conflict, ConflictPolicy::NewestWins);
    assert_eq!(
        p.field_conflicts.get("Text"),
        Some(&ConflictPolicy::GraphWins)
    );
    assert_eq!(p.direction, Direction::Both);
    assert!(p.create_from_graph && p.create_in_graph && p.adopt);
    assert_eq!(
        p.on_graph_removal,
        GraphRemoval::Flag("ConnectorDeleted".into())
    );
    assert_eq!(p.on_crm_delete, CrmDelete::Leave);
    assert!(!p.remove_created_copies);
    assert_eq!(p.published_field.as_deref(), Some("ConnectorPublished"));
}

#[test]
fn tasks_are_newest_wins_both_ways() {
    let p = Policy::default_for("task");
    assert_eq!(p.conflict, ConflictPolicy::NewestWins);
    assert!(p.field_conflicts.is_empty());
    assert_eq!(p.direction, Direction::Both);
    assert!(p.create_from_graph && p.create_in_graph);
    assert_eq!(
        p.on_graph_removal,
        GraphRemoval::Flag("ConnectorDeleted".into())
    );
    assert_eq!(p.published_field, None);
}

#[test]
fn e_mails_go_to_the_crm_only_and_a_deleted_mail_only_unlinks() {
    let p = Policy::default_for("message");
    assert_eq!(p.conflict, ConflictPolicy::CrmWins);
    assert_eq!(p.direction, Direction::GraphToCrm);
    assert!(p.create_from_graph);
    assert!(!p.create_in_graph);
    assert_eq!(p.on_graph_removal, GraphRemoval::Unlink);
    assert_eq!(p.on_crm_delete, CrmDelete::Leave);
    assert!(!p.remove_created_copies);
}

#[test]
fn contacts_come_from_the_crm_which_wins() {
    let p = Policy::default_for("contact");
    assert_eq!(p.conflict, ConflictPolicy::CrmWins);
    assert_eq!(p.direction, Direction::Both);
    assert!(!p.create_from_graph);
    assert!(p.create_in_graph);
    assert_eq!(p.on_graph_removal, GraphRemoval::Unlink);
    assert_eq!(p.on_crm_delete, CrmDelete::DeleteGraphItem);
    assert!(p.remove_created_copies);
}

#[test]
fn absences_are_the_crms_shown_in_the_calendar() {
    let p = Policy::default_for("absence");
    assert_eq!(p.conflict, ConflictPolicy::CrmWins);
    assert_eq!(p.direction, Direction::CrmToGraph);
    assert!(!p.create_from_graph);
    assert!(p.create_in_graph);
    assert_eq!(p.on_graph_removal, GraphRemoval::Unlink);
    assert_eq!(p.on_crm_delete, CrmDelete::DeleteGraphItem);
    assert!(p.remove_created_copies);
}
