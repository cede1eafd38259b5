//! What the runner needs to know about each mapped resource: its Graph item kind, which rep switch turns it
//! on, its planner policy, and which CRM fields it reads, compares and clears — all derived from the
//! mapping data, so a template difference never needs code.

use indexmap::IndexMap;

use crate::{
    config::ConnectorConfig,
    directory::Rep,
    mapping::{FieldKind, field_kinds},
    model::{MappingSet, Resource},
    plan::Policy,
    transport::graph::ItemKind,
};

/// One resource as the runner runs it.
#[derive(Debug, Clone)]
pub struct ResourceSpec {
    /// `event`, `message`, `task`, `contact` or `absence`.
    pub name: String,
    /// The validated mapping.
    pub mapping: Resource,
    /// The Graph item kind it reads and writes.
    pub kind: ItemKind,
    pub policy: Policy,
    /// The per-rep CRM switch (`SyncAppointments`…) and its name for reports.
    pub rep_switch: fn(&Rep) -> bool,
    pub switch_name: &'static str,
    /// CRM fields compared and hashed on both sides, with their kinds.
    pub compare: IndexMap<String, FieldKind>,
    /// Fields an update from Graph clears when the mapped item has no value for them.
    pub clear: Vec<String>,
    /// CRM fields read (the form list when the template declares one).
    pub read: Vec<String>,
    /// The CRM field holding the owning rep (`RepID`), when the table has one.
    pub rep_field: Option<String>,
    /// Copies of one item live in several mailboxes (meetings, e-mails): apply one mailbox at a time.
    pub correlated: bool,
    /// Series masters are mapped (the template has serial-appointment fields); otherwise only the
    /// occurrences are, each as its own appointment.
    pub series_fields: bool,
    /// `privacy: busy-only`: the CRM fields left out of private and confidential items (everything
    /// but times, availability, flags and the owner).
    pub private_strip: Option<Vec<String>>,
}

/// Graph properties whose values a busy block keeps.
const BUSY_BLOCK_PATHS: &[&str] = &[
    "$.start",
    "$.end",
    "$.isAllDay",
    "$.showAs",
    "$.sensitivity",
    "$.importance",
    "$.isReminderOn",
    "$.reminderMinutesBeforeStart",
    "$.type",
];

/// The fields a busy block leaves out: rules fed by anything but times and availability, and every
/// participant field except the owner.
fn private_strip(res: &Resource) -> Vec<String> {
    use crate::model::Source;
    let mut out: Vec<String> = res
        .rules
        .iter()
        .filter(|r| r.to_crm())
        .filter(|r| match &r.source {
            Some(Source::Const(_)) | None => false,
            Some(Source::Path(p)) => !BUSY_BLOCK_PATHS.iter().any(|k| p.text.starts_with(k)),
            Some(Source::Template(_)) => true,
        })
        .map(|r| r.crm.clone())
        .collect();
    if let Some(p) = &res.participants {
        out.extend(
            [
                &p.resolved.rep_ids,
                &p.resolved.names,
                &p.resolved.person_ids,
            ]
            .into_iter()
            .flatten()
            .cloned(),
        );
        out.extend(p.resolved.link.iter().cloned());
        if let Some(m) = &p.missing {
            out.push(m.field.clone());
            out.extend(m.flag.clone());
        }
    }
    out
}

/// The resources of a mapping set in a fixed order: absences first (their calendar items must be known
/// before events are read), then events, tasks, contacts and e-mails.
pub fn specs(config: &ConnectorConfig, set: &MappingSet) -> anyhow::Result<Vec<ResourceSpec>> {
    let _ = config;
    let order = ["absence", "event", "task", "contact", "message"];
    let mut out = Vec::new();
    for name in order {
        let Some(res) = set.resource(name) else {
            continue;
        };
        out.push(ResourceSpec::new(res));
    }
    for (name, res) in &set.resources {
        if !order.contains(&name.as_str()) {
            anyhow::bail!(
                "mapping resource `{name}` is not one the sync engine knows: expected one of {}",
                order.join(", ")
            );
        }
        let _ = res;
    }
    Ok(out)
}

impl ResourceSpec {
    /// The runner's view of one validated mapping.
    pub fn new(res: &Resource) -> ResourceSpec {
        spec(res)
    }
}

fn spec(res: &Resource) -> ResourceSpec {
    let (kind, rep_switch, switch_name): (ItemKind, fn(&Rep) -> bool, &'static str) =
        match res.name.as_str() {
            "event" => (ItemKind::Event, |r| r.sync_appointments, "SyncAppointments"),
            "absence" => (ItemKind::Event, |r| r.sync_appointments, "SyncAppointments"),
            "message" => (ItemKind::Message, |r| r.sync_emails, "SyncEmails"),
            "task" => (ItemKind::Task, |r| r.sync_tasks, "SyncTasks"),
            _ => (ItemKind::Contact, |r| r.sync_contacts, "SyncContacts"),
        };
    let mut policy = Policy::from_mapping(res);
    let in_form = |field: &str| {
        res.form_fields
            .as_ref()
            .is_none_or(|f| f.iter().any(|x| x == field))
    };
    if policy
        .published_field
        .as_deref()
        .is_some_and(|f| !in_form(f))
    {
        policy.published_field = None;
    }
    let mut compare: IndexMap<String, FieldKind> = field_kinds(res)
        .into_iter()
        .filter(|(f, _)| in_form(f))
        .collect();
    if let Some(flag) = &policy.published_field {
        compare.insert(flag.clone(), FieldKind::Bool);
    }
    let series_fields = ["IsMasterContact", "IsSerialContact"].iter().all(|f| {
        res.form_fields
            .as_ref()
            .is_some_and(|l| l.iter().any(|x| x == f))
    });
    let clear = compare
        .keys()
        .filter(|f| {
            **f != res.deletion.flag_field && Some(f.as_str()) != policy.published_field.as_deref()
        })
        .cloned()
        .collect();
    let mut read: Vec<String> = match &res.form_fields {
        Some(fields) => fields.clone(),
        None => compare.keys().cloned().collect(),
    };
    for field in compare.keys() {
        if !read.contains(field) {
            read.push(field.clone());
        }
    }
    let rep_field = read.iter().find(|f| *f == "RepID").cloned();
    if series_fields {
        compare.insert("IsMasterContact".into(), FieldKind::Bool);
        compare.insert("IsSerialContact".into(), FieldKind::Bool);
    }
    ResourceSpec {
        name: res.name.clone(),
        mapping: res.clone(),
        kind,
        policy,
        rep_switch,
        switch_name,
        compare,
        clear,
        read,
        rep_field,
        correlated: matches!(res.name.as_str(), "event" | "message"),
        series_fields,
        private_strip: (res.sync.privacy == Some(crate::model::Privacy::BusyOnly))
            .then(|| private_strip(res)),
    }
}
