//! `explain ID`: the decision trace of one Graph item or CRM record — its link, each mapping rule and its
//! value, the selection, filter and window verdicts, what the planner decides and why, and the exact CRM
//! request or Graph body that was or would be sent. Reads only; writes nothing anywhere.

use indexmap::IndexMap;
use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value as Json;

use crate::{
    mapping::{filter, selected, to_crm, to_graph},
    plan::{self, Changes, Content, CrmChange, CrmKind, CrmRef, content_hash},
    state,
    transport::{
        crm::{
            Actor, BatchCommand, Command, RecordId,
            encode::{EncodeOptions, Login, encode_request},
        },
        graph::ItemRef,
    },
};

use super::{Engine, ResourceSpec, SyncError, context, crm_side, graph_side, links, roster};

/// Everything `explain` found and decided about one id.
#[derive(Debug, Serialize)]
pub struct Explanation {
    pub id: String,
    pub mailbox: Option<String>,
    pub resource: Option<String>,
    pub link: Option<state::Link>,
    /// The Graph item as read (JSON), if found.
    pub graph_item: Option<Json>,
    /// CRM field → the value the rules give it (Graph → CRM), and the rules' warnings.
    pub rules: IndexMap<String, Json>,
    pub warnings: Vec<String>,
    /// Verdicts: `selection`, `window`, `filter` → a sentence each.
    pub verdicts: IndexMap<String, String>,
    /// The CRM record as read (canonical values), if found.
    pub crm_record: Option<IndexMap<String, Json>>,
    /// What the planner decides, one line per action, with the reason.
    pub decisions: Vec<String>,
    /// The CRM.interface request a Graph → CRM write would send (password masked).
    pub crm_request: Option<String>,
    /// The Graph body a CRM → Graph write would send.
    pub graph_body: Option<Json>,
}

impl std::fmt::Display for Explanation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "id: {}", self.id)?;
        writeln!(
            f,
            "mailbox: {}   resource: {}",
            self.mailbox.as_deref().unwrap_or("-"),
            self.resource.as_deref().unwrap_or("-")
        )?;
        match &self.link {
            Some(l) => writeln!(
                f,
                "link: graph {} ↔ crm {}:{} (graph hash {}, crm hash {}, {}{}, origin {})",
                l.graph_id,
                l.crm_table,
                l.crm_id,
                l.graph_hash,
                l.crm_hash,
                if l.authoritative {
                    "writes the record"
                } else {
                    "adds its rep only"
                },
                if l.published { ", published" } else { "" },
                l.origin
            )?,
            None => writeln!(f, "link: none")?,
        }
        if !self.rules.is_empty() {
            writeln!(f, "rules (Graph → CRM):")?;
            for (field, value) in &self.rules {
                writeln!(f, "  {field} = {value}")?;
            }
        }
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        for (what, verdict) in &self.verdicts {
            writeln!(f, "{what}: {verdict}")?;
        }
        if let Some(record) = &self.crm_record {
            writeln!(f, "crm record:")?;
            for (field, value) in record {
                writeln!(f, "  {field} = {value}")?;
            }
        }
        writeln!(f, "decision:")?;
        if self.decisions.is_empty() {
            writeln!(f, "  nothing to do")?;
        }
        for d in &self.decisions {
            writeln!(f, "  {d}")?;
        }
        if let Some(req) = &self.crm_request {
            writeln!(f, "crm request:\n{req}")?;
        }
        if let Some(body) = &self.graph_body {
            writeln!(
                f,
                "graph body:\n{}",
                serde_json::to_string_pretty(body).unwrap_or_default()
            )?;
        }
        Ok(())
    }
}

impl Engine {
    /// Explains a Graph item id or a CRM record (`TABLE:ID`, or a bare record id).
    pub async fn explain(&self, id: &str, now: Timestamp) -> Result<Explanation, SyncError> {
        let roster = roster::read(self)
            .await
            .map_err(|e| SyncError::new(e, "see `graph-connector doctor`"))?;
        let mut out = Explanation {
            id: id.to_owned(),
            mailbox: None,
            resource: None,
            link: None,
            graph_item: None,
            rules: IndexMap::new(),
            warnings: Vec::new(),
            verdicts: IndexMap::new(),
            crm_record: None,
            decisions: Vec::new(),
            crm_request: None,
            graph_body: None,
        };
        // Find the link: by Graph id in every synced mailbox, or by CRM record.
        let synced: Vec<&roster::RosterEntry> =
            roster.entries.iter().filter(|e| e.synced()).collect();
        let mut found: Option<(&roster::RosterEntry, &ResourceSpec, Option<state::Link>)> = None;
        'search: for entry in &synced {
            for spec in &self.settings.resources {
                if let Some(link) = self
                    .state
                    .get_link(entry.mailbox_id(), &spec.name, id)
                    .await
                    .map_err(SyncError::state)?
                {
                    found = Some((entry, spec, Some(link)));
                    break 'search;
                }
            }
        }
        if found.is_none() {
            let (table, record_id) = id.split_once(':').unwrap_or(("", id));
            for spec in &self.settings.resources {
                if !table.is_empty() && spec.mapping.table != table {
                    continue;
                }
                let record = state::CrmRef {
                    table: spec.mapping.table.clone(),
                    id: record_id.to_owned(),
                };
                let links = self
                    .state
                    .links_by_crm(&record)
                    .await
                    .map_err(SyncError::state)?;
                if let Some(link) = links.into_iter().find(|l| l.resource == spec.name)
                    && let Some(entry) = synced.iter().find(|e| e.mailbox_id() == link.mailbox)
                {
                    found = Some((entry, spec, Some(link)));
                    break;
                }
            }
        }
        if found.is_none() {
            // An unlinked Graph item: look in each synced mailbox.
            'items: for entry in &synced {
                for spec in &self.settings.resources {
                    let item = ItemRef {
                        mailbox: entry.graph_user().to_owned(),
                        kind: spec.kind,
                        id: id.to_owned(),
                        list_id: None,
                    };
                    if let Ok(Some(_)) = self.graph.get_item(&item).await {
                        found = Some((entry, spec, None));
                        break 'items;
                    }
                }
            }
        }
        let Some((entry, spec, link)) = found else {
            out.decisions.push(
                "no link, no Graph item in a synced mailbox and no linked CRM record has this id"
                    .into(),
            );
            return Ok(out);
        };
        out.mailbox = Some(entry.address().to_owned());
        out.resource = Some(spec.name.clone());
        out.link = link.clone();
        let graph_id = link.as_ref().map_or(id.to_owned(), |l| l.graph_id.clone());
        let mut ctx = context::base(self, entry, now)?;

        // The Graph side.
        let item = self
            .graph
            .get_item(&ItemRef {
                mailbox: entry.graph_user().to_owned(),
                kind: spec.kind,
                id: graph_id.clone(),
                list_id: None,
            })
            .await
            .ok()
            .flatten()
            .map(|i| i.to_json());
        let mut read = graph_side::GraphRead::default();
        if let Some(item) = &item {
            read.items.insert(graph_id.clone(), item.clone());
        }
        ctx.directory = context::directory(self, spec, entry, &roster, &read).await?;
        if let Some(item) = &item {
            let record = to_crm(&self.settings.mappings, &spec.mapping, item, &ctx);
            out.rules = record.json_fields();
            out.warnings = record.warnings.clone();
            out.verdicts.insert(
                "selection".into(),
                if selected(&spec.mapping, item, &ctx) {
                    "selected".into()
                } else {
                    "not selected: the item is left alone (never a delete)".into()
                },
            );
            let dry = super::CycleOptions {
                mode: super::Mode::DryRun,
                adopt: true,
                allow_mass_delete: false,
                now,
            };
            let rules = super::scope::rules(self, spec, entry, dry).await?;
            out.verdicts.insert(
                "scope".into(),
                match (rules.verdict(item), &link) {
                    (None, _) => "in scope".into(),
                    (Some(why), None) => why.to_string(),
                    (Some(why), Some(_)) => format!("{why}; but it is linked, so it keeps syncing"),
                },
            );
            if spec.kind == crate::transport::graph::ItemKind::Event {
                let (start, end) = graph_side::window(
                    self,
                    entry,
                    now,
                    self.settings.event_past,
                    self.settings.event_future,
                );
                out.verdicts.insert(
                    "window".into(),
                    format!("the calendar window is {start} .. {end}"),
                );
            }
        } else {
            out.verdicts.insert(
                "graph".into(),
                "the Graph item does not exist (any more)".into(),
            );
        }
        out.graph_item = item.clone();

        // The CRM side.
        let record_ref = link.as_ref().map(|l| CrmRef {
            table: l.crm_table.clone(),
            id: l.crm_id.clone(),
        });
        let mut crm_change = None;
        if let Some(r) = &record_ref {
            let fields: Vec<&str> = spec.read.iter().map(String::as_str).collect();
            let rec = self
                .crm
                .read(&Actor::Master, &r.table, &RecordId::new(&r.id), &fields)
                .await
                .map_err(SyncError::crm)?;
            if let Some(rec) = rec {
                let typed =
                    crm_side::typed_fields(&rec, &spec.compare, &spec.read, &self.settings.formats);
                let json: IndexMap<String, Json> = typed
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect();
                let in_filter = spec
                    .mapping
                    .filter
                    .as_ref()
                    .is_none_or(|f| filter::matches(f, &json));
                out.verdicts.insert(
                    "filter".into(),
                    if in_filter {
                        "the record passes the CRM filter".into()
                    } else {
                        "the record fails the CRM filter: it is not written to Graph".into()
                    },
                );
                let compared = typed
                    .into_iter()
                    .filter(|(k, _)| spec.compare.contains_key(k))
                    .collect();
                let compared = graph_side::normalize(compared, &spec.compare);
                if in_filter {
                    crm_change = Some(CrmChange {
                        record: r.clone(),
                        last_modified: None,
                        subject: None,
                        kind: CrmKind::Upserted(Content {
                            hash: Some(content_hash(&compared)),
                            fields: plan::Fields(compared),
                        }),
                    });
                }
                out.graph_body =
                    Some(to_graph(&self.settings.mappings, &spec.mapping, &json, &ctx).body);
                out.crm_record = Some(json);
            } else {
                out.verdicts.insert(
                    "crm".into(),
                    "the linked CRM record does not exist (any more)".into(),
                );
            }
        }

        // The decision: the planner on just this item and record.
        if let Some(item) = &item {
            read.items.insert(graph_id.clone(), item.clone());
        } else if link.is_some() {
            read.removed.push(graph_id.clone());
        }
        let crm_read = crm_side::CrmRead {
            changes: crm_change.into_iter().collect(),
            ..Default::default()
        };
        let mut changes: Changes =
            graph_side::map_changes(self, spec, entry, &roster, &mut read, &crm_read, &ctx);
        let own: Vec<state::Link> = link.iter().cloned().collect();
        let plan_links = links::plan_links(self, spec, entry, &own, &changes).await?;
        let mut foreign = Vec::new();
        let candidates = links::candidates(
            self,
            spec,
            entry,
            &changes,
            &plan_links,
            &read,
            &mut foreign,
        )
        .await?;
        if !foreign.is_empty() {
            out.decisions.push(
                "the item carries another CRM installation's stamp: it is that installation's, left alone"
                    .into(),
            );
            changes.graph.retain(|c| !foreign.contains(&c.graph_id));
        }
        let plan = plan::plan(&spec.policy, &changes, &plan_links, &candidates);
        for action in &plan.actions {
            out.decisions.push(format!(
                "{} {}: {} ({})",
                action.direction,
                action.kind.name(),
                action.reason,
                action.reason.code()
            ));
            if let plan::ActionKind::Create { fields, .. }
            | plan::ActionKind::Update { fields }
            | plan::ActionKind::Adopt { fields, .. } = &action.kind
                && action.direction == plan::Flow::GraphToCrm
            {
                out.crm_request = Some(self.crm_request(spec, record_ref.as_ref(), fields));
            }
        }
        if let Some(stop) = &plan.stopped {
            out.decisions.push(stop.to_string());
        }
        Ok(out)
    }

    /// The CRM.interface request a Graph → CRM write sends (password masked).
    fn crm_request(
        &self,
        spec: &ResourceSpec,
        record: Option<&CrmRef>,
        fields: &plan::Fields,
    ) -> String {
        let values = super::write_crm::crm_fields(fields, &spec.clear);
        let command = match record {
            Some(r) => Command::Update {
                table: r.table.clone(),
                id: RecordId::new(&r.id),
                fields: values,
            },
            None => Command::Insert {
                table: spec.mapping.table.clone(),
                fields: values,
            },
        };
        let login = Login {
            user: "(master user)",
            password: "********",
            client: "(client)",
            language: &self.settings.language,
        };
        let options = EncodeOptions {
            formats: self.settings.formats.clone(),
            ..Default::default()
        };
        encode_request(
            &login,
            &Actor::Master,
            &[BatchCommand::new(command)],
            &options,
        )
        .unwrap_or_else(|e| format!("(cannot encode: {e})"))
    }
}
