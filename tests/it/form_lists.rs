//! The connector never writes a field outside the template's form list, and it keeps its links out of the
//! records: the ISI vevent list is the setup guide's list and nothing more, and no shipped mapping writes a
//! Graph id, an iCalUId or a content type into a record (those live in External Key rows).

use std::path::Path;

use graph_connector::load::load_set;
use pretty_assertions::assert_eq;

fn mappings() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings")
}

/// The ISI template's vevent form (the vendor setup guide's list).
const ISI_VEVENT: &[&str] = &[
    "StatNo",
    "SeqNo",
    "Contact",
    "Date",
    "Time",
    "EndDate",
    "EndTime",
    "Duration",
    "Unit",
    "Subject",
    "Text",
    "RepID",
    "Rep",
    "CoGrp",
    "CoNo",
    "PeGrp",
    "PeNo",
    "Private",
    "Priority",
    "ShowAs",
    "ParticipantID",
    "Participants",
    "A031Location",
    "F5021",
    "F5044",
    "OpportunityStatNo",
    "OpportunitySeqNo",
    "ProjectsStatNo",
    "ProjectsSeqNo",
    "IsMasterContact",
    "IsSerialContact",
    "ContactStatNo",
    "ContactSeqNo",
    "ConnectorMissingparticipants",
    "ConnectorPublished",
    "ConnectorDeleted",
    "MissingParticipants",
    "ReminderDur",
    "ReminderUnit",
    "Todo",
];

#[test]
fn isi_vevent_form_is_the_setup_guides_list_and_nothing_more() {
    let set = load_set(&mappings(), Some("isi")).unwrap();
    let event = set.resource("event").unwrap();
    assert_eq!(
        event.form_fields.as_deref().unwrap(),
        ISI_VEVENT.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    );
}

#[test]
fn no_shipped_mapping_writes_link_fields_into_records() {
    for template in [None, Some("isi")] {
        let set = load_set(&mappings(), template).unwrap();
        for (name, res) in &set.resources {
            for rule in &res.rules {
                assert!(
                    !["GraphId", "ICalUId", "ContentType"].contains(&rule.crm.as_str()),
                    "{name} under {template:?} writes {} (links belong in XK rows)",
                    rule.crm
                );
            }
            if let Some(form) = &res.form_fields {
                for rule in &res.rules {
                    assert!(
                        form.contains(&rule.crm),
                        "{name} under {template:?} writes {} outside its form list",
                        rule.crm
                    );
                }
            }
        }
    }
}

/// CRM field → length, per table, from the emulator's default seed (the sandbox CRM's template).
fn seed_lengths() -> std::collections::HashMap<(String, String), usize> {
    let seed = graph_connector_emulator::crm::seed::Seed::default_seed();
    let mut out = std::collections::HashMap::new();
    for table in &seed.tables {
        for field in &table.fields {
            if let Some(n) = field.length {
                out.insert((table.name.clone(), field.name.clone()), n);
            }
        }
    }
    out
}

/// An over-long text never fails a record on every retry: every text a shipped mapping writes into a
/// CRM field with a length is cut to that length (by `truncate` as the rule's last converter, or by the
/// participants' `max_length`), under every template.
#[test]
fn every_graph_text_written_to_a_limited_crm_field_is_cut_to_its_length() {
    use graph_connector_core::model::{Convert, Source};
    let lengths = seed_lengths();
    for template in [None, Some("isi")] {
        let set = load_set(&mappings(), template).unwrap();
        for (name, res) in &set.resources {
            for rule in res.rules.iter().filter(|r| r.to_crm()) {
                let Some(&len) = lengths.get(&(res.table.clone(), rule.crm.clone())) else {
                    continue;
                };
                if matches!(rule.source, Some(Source::Const(_))) {
                    continue;
                }
                match rule.convert.last() {
                    Some(Convert::Truncate(n)) => assert!(
                        *n <= len,
                        "{name} under {template:?}: {} is cut to {n}, its CRM length is {len}",
                        rule.crm
                    ),
                    Some(Convert::Catalog(_) | Convert::Map(_) | Convert::Boolean) => {}
                    Some(Convert::Date | Convert::EndDate | Convert::Time) => {}
                    Some(Convert::Duration { .. } | Convert::DurationUnit { .. }) => {}
                    _ => panic!(
                        "{name} under {template:?}: {} (CRM length {len}) is written without \
                         `truncate` as its last converter",
                        rule.crm
                    ),
                }
            }
            if let Some(p) = &res.participants {
                for (field, n) in &p.max_length {
                    if let Some(&len) = lengths.get(&(res.table.clone(), field.clone())) {
                        assert!(
                            *n <= len,
                            "{name} under {template:?}: {field} max_length {n} > {len}"
                        );
                    }
                }
            }
        }
    }
}
