//! CRM → Graph writes of a plan: create (stamped, idempotent by `transactionId`, then its XK row), update,
//! adopt (an existing item found for the record), delete and unlink.

use indexmap::IndexMap;
use serde_json::Value as Json;

use crate::{
    mapping::{FieldValue, to_graph},
    plan::{Action, ActionKind, Flow, content_hash},
    transport::{
        crm::{Actor, BatchCommand, ext_keys},
        graph::{CreateOptions, CreateTarget, ItemRef, NewItem},
    },
};

use super::{
    apply::{Failure, Run},
    links::stamp,
};

impl Run<'_> {
    /// Creates the Graph items of `actions` (all CRM → Graph creates): journalled, sent together
    /// (`create_items`: `$batch`), stamped with their record and idempotent by `transactionId`; their XK
    /// rows go to the CRM in one request. A row that cannot be written leaves the entry pending, and
    /// `recover` finds the item by its stamp next cycle.
    pub(super) async fn create_graph_items(
        &mut self,
        actions: &[(usize, &Action)],
    ) -> Result<Vec<(usize, Result<(), Failure>)>, Failure> {
        let mailbox = self.entry.graph_user().to_owned();
        let mut pending = Vec::new();
        let mut items = Vec::new();
        for (n, action) in actions {
            let Some(record) = action.crm.clone() else {
                continue;
            };
            let fields = self
                .prepared
                .crm
                .records
                .get(&record)
                .cloned()
                .unwrap_or_default();
            let body = to_graph(
                &self.engine.settings.mappings,
                &self.spec.mapping,
                &fields,
                &self.ctx,
            );
            let key = self.engine.settings.stamp(&record);
            let write = self
                .begin(
                    Flow::CrmToGraph,
                    "create",
                    None,
                    &key,
                    &self.crm_hash_of(&record),
                )
                .await?;
            items.push(NewItem {
                target: CreateTarget {
                    mailbox: mailbox.clone(),
                    kind: self.spec.kind,
                    container: match self.spec.kind {
                        crate::transport::graph::ItemKind::Contact => {
                            self.prepared.graph.contact_folder.clone()
                        }
                        _ => self.prepared.graph.list_id.clone(),
                    },
                },
                body: body.body,
                options: CreateOptions {
                    crm_stamp: Some(key.clone()),
                    transaction_id: Some(transaction_id(self.entry.mailbox_id(), &key)),
                },
            });
            pending.push((*n, record, write));
        }
        let mut results = Vec::new();
        if items.is_empty() {
            return Ok(results);
        }
        let created = self.engine.graph.create_items(&items).await;
        let mut made = Vec::new();
        for ((n, record, write), result) in pending.into_iter().zip(created) {
            match result {
                Ok(item) => made.push((n, record, write, item)),
                Err(e) => {
                    let failure = self.settle(write, Err::<(), _>(e)).await;
                    if let Err(Failure::Mailbox(e)) = failure {
                        return Err(Failure::Mailbox(e));
                    }
                    results.push((n, failure));
                }
            }
        }
        if made.is_empty() {
            return Ok(results);
        }
        let commands: Vec<BatchCommand> = made
            .iter()
            .map(|(_, record, _, item)| {
                BatchCommand::new(ext_keys::put_command(&self.xk_row(item.id(), record)))
            })
            .collect();
        let replies = match self.engine.crm.execute(&Actor::Master, &commands).await {
            Ok(replies) => replies.into_iter().map(Some).collect(),
            Err(e) => {
                if let Failure::Mailbox(e) = Failure::from(e) {
                    return Err(Failure::Mailbox(e));
                }
                Vec::new()
            }
        };
        for (k, (n, record, write, item)) in made.into_iter().enumerate() {
            if !matches!(replies.get(k), Some(Some(Ok(_)))) {
                // The item exists and carries its stamp; the entry stays pending for `recover`.
                results.push((
                    n,
                    Err(Failure::Item(
                        "the CRM did not confirm the item's external key; finished next cycle"
                            .into(),
                    )),
                ));
                continue;
            }
            let new_id = item.id().to_owned();
            self.resolve(write, Ok(Some(new_id.clone()))).await?;
            let mut link = self.new_link(&new_id, &record, "crm");
            link.change_key = etag_change_key(item.etag());
            link.graph_hash = self.graph_hash_of_item(&item.to_json()).await?;
            link.crm_hash = self.crm_hash_of(&record);
            let after = link.graph_hash.clone();
            self.keep_link(link);
            self.audit(
                Flow::CrmToGraph,
                "create",
                Some(&new_id),
                Some(&record),
                None,
                Some(after),
            );
            results.push((n, Ok(())));
        }
        Ok(results)
    }

    pub(super) async fn write_graph(&mut self, action: &Action) -> Result<(), Failure> {
        let Some(record) = action.crm.clone() else {
            return Ok(());
        };
        let mailbox = self.entry.graph_user().to_owned();
        let graph_id = action.graph_id.clone().or_else(|| {
            self.by_record
                .get(&(record.table.clone(), record.id.clone()))
                .cloned()
        });
        match &action.kind {
            // Creates go through `create_graph_items`, many per round trip.
            ActionKind::Create { .. } => {}
            ActionKind::Update { fields } => {
                let Some(graph_id) = graph_id else {
                    return Ok(());
                };
                let json: IndexMap<String, Json> = match self.prepared.crm.records.get(&record) {
                    Some(all) => {
                        // The plan's fields win; the rest of the record fills templates.
                        let mut all = all.clone();
                        for (k, v) in fields.iter() {
                            all.insert(k.clone(), v.to_json());
                        }
                        all
                    }
                    None => fields
                        .iter()
                        .map(|(k, v)| (k.clone(), v.to_json()))
                        .collect(),
                };
                let body = to_graph(
                    &self.engine.settings.mappings,
                    &self.spec.mapping,
                    &json,
                    &self.ctx,
                );
                let mailbox_ref = ItemRef {
                    mailbox: mailbox.clone(),
                    kind: self.spec.kind,
                    id: graph_id.clone(),
                    list_id: self.prepared.graph.list_id.clone(),
                };
                let (patch, held) = self.meeting_patch(&mailbox_ref, body.body).await?;
                if let Some(why) = held {
                    self.applied.notes.push(format!(
                        "{} `{}`: the CRM edit was only partly written to the meeting: {why}",
                        self.spec.name,
                        action.subject.as_deref().unwrap_or(&graph_id)
                    ));
                }
                let Some(patch) = patch else {
                    // Nothing may be written: keep the CRM side's new state so the edit is not tried
                    // again every cycle.
                    if let Some(mut link) = self.links.get(&graph_id).cloned() {
                        let crm_hash = self.crm_hash_of(&record);
                        if !crm_hash.is_empty() {
                            link.crm_hash = crm_hash;
                        }
                        self.keep_link(link);
                    }
                    return Ok(());
                };
                let write = self
                    .begin(
                        Flow::CrmToGraph,
                        "update",
                        Some(graph_id.clone()),
                        &stamp(&record),
                        &content_hash(fields),
                    )
                    .await?;
                let item = ItemRef {
                    mailbox: mailbox.clone(),
                    kind: self.spec.kind,
                    id: graph_id.clone(),
                    list_id: self.prepared.graph.list_id.clone(),
                };
                let outcome = self
                    .settle(
                        write,
                        self.engine.graph.update_item(&item, &patch, None).await,
                    )
                    .await?;
                self.resolve(write, Ok(Some(graph_id.clone()))).await?;
                let mut link = match self.links.get(&graph_id) {
                    Some(l) => l.clone(),
                    None => self.new_link(&graph_id, &record, "crm"),
                };
                let before = link.graph_hash.clone();
                link.graph_hash = self.graph_hash_of_item(&outcome.item.to_json()).await?;
                link.change_key = etag_change_key(outcome.item.etag());
                let crm_hash = self.crm_hash_of(&record);
                if !crm_hash.is_empty() {
                    link.crm_hash = crm_hash;
                }
                link.updated_at = self.options.now;
                let after = link.graph_hash.clone();
                self.keep_link(link);
                self.audit(
                    Flow::CrmToGraph,
                    "update",
                    Some(&graph_id),
                    Some(&record),
                    Some(before),
                    Some(after),
                );
            }
            ActionKind::Delete => {
                let Some(graph_id) = graph_id else {
                    return Ok(());
                };
                let write = self
                    .begin(
                        Flow::CrmToGraph,
                        "delete",
                        Some(graph_id.clone()),
                        &stamp(&record),
                        "",
                    )
                    .await?;
                let item = ItemRef {
                    mailbox: mailbox.clone(),
                    kind: self.spec.kind,
                    id: graph_id.clone(),
                    list_id: self.prepared.graph.list_id.clone(),
                };
                self.settle(write, self.engine.graph.delete_item(&item, None).await)
                    .await?;
                self.resolve(write, Ok(None)).await?;
                self.remove_xk(&graph_id).await?;
                let before = self.links.get(&graph_id).map(|l| l.graph_hash.clone());
                self.drop_link(&graph_id);
                self.audit(
                    Flow::CrmToGraph,
                    "delete",
                    Some(&graph_id),
                    Some(&record),
                    before,
                    None,
                );
            }
            ActionKind::Unlink => {
                if let Some(graph_id) = graph_id {
                    self.remove_xk(&graph_id).await?;
                    self.drop_link(&graph_id);
                    self.audit(
                        Flow::CrmToGraph,
                        "unlink",
                        Some(&graph_id),
                        Some(&record),
                        None,
                        None,
                    );
                }
            }
            ActionKind::Adopt { .. } => {
                // An existing Graph item found for the record (an Outlook contact by address, or an item
                // whose link was lost): link it, give it its XK row, and write the record's fields to it.
                let Some(graph_id) = graph_id else {
                    return Ok(());
                };
                let fields = self
                    .prepared
                    .crm
                    .records
                    .get(&record)
                    .cloned()
                    .unwrap_or_default();
                let body = to_graph(
                    &self.engine.settings.mappings,
                    &self.spec.mapping,
                    &fields,
                    &self.ctx,
                );
                let write = self
                    .begin(
                        Flow::CrmToGraph,
                        "adopt",
                        Some(graph_id.clone()),
                        &stamp(&record),
                        &self.crm_hash_of(&record),
                    )
                    .await?;
                let item = ItemRef {
                    mailbox: mailbox.clone(),
                    kind: self.spec.kind,
                    id: graph_id.clone(),
                    list_id: self.prepared.graph.list_id.clone(),
                };
                let updated = async {
                    let outcome = self
                        .engine
                        .graph
                        .update_item(&item, &body.body, None)
                        .await?;
                    let mark = self.engine.settings.stamp(&record);
                    self.engine.graph.stamp(&item, &mark).await?;
                    Ok::<_, crate::transport::graph::GraphError>(outcome)
                }
                .await;
                let outcome = self.settle(write, updated).await?;
                let xk = self.xk_row(&graph_id, &record);
                self.settle(
                    write,
                    ext_keys::put(self.engine.crm.as_ref(), &Actor::Master, &xk).await,
                )
                .await?;
                self.resolve(write, Ok(Some(graph_id.clone()))).await?;
                let mut link = self.new_link(&graph_id, &record, "graph");
                link.crm_hash = self.crm_hash_of(&record);
                link.graph_hash = self.graph_hash_of_item(&outcome.item.to_json()).await?;
                link.change_key = etag_change_key(outcome.item.etag());
                let after = link.graph_hash.clone();
                self.keep_link(link);
                self.audit(
                    Flow::CrmToGraph,
                    "adopt",
                    Some(&graph_id),
                    Some(&record),
                    None,
                    Some(after),
                );
            }
            _ => {}
        }
        Ok(())
    }
}

/// What a CRM edit may change on an item with attendees, unless the mapping says otherwise: not the body
/// (rewriting it mails every attendee and can drop the online-meeting link).
const MEETING_FIELDS: &[&str] = &[
    "subject",
    "start",
    "end",
    "isAllDay",
    "location",
    "showAs",
    "sensitivity",
    "importance",
    "isReminderOn",
    "reminderMinutesBeforeStart",
];
/// What changes on a meeting notify nobody (the organizer's own view of it).
const SILENT_FIELDS: &[&str] = &[
    "showAs",
    "sensitivity",
    "isReminderOn",
    "reminderMinutesBeforeStart",
];

impl Run<'_> {
    /// The patch a CRM edit may send to `item`: unchanged for items without attendees; for meetings only
    /// the mapping's `meeting_fields`, and with attendees outside the managed domains only silent fields
    /// unless `notify_external_attendees`; and why something was held back, for the report.
    async fn meeting_patch(
        &self,
        item: &ItemRef,
        patch: Json,
    ) -> Result<(Option<Json>, Option<&'static str>), Failure> {
        let current = match self.prepared.graph.items.get(&item.id) {
            Some(v) => Some(v.clone()),
            None if self.spec.kind == crate::transport::graph::ItemKind::Event => {
                self.engine.graph.get_item(item).await?.map(|i| i.to_json())
            }
            None => None,
        };
        let attendees: Vec<String> = current
            .as_ref()
            .and_then(|c| c.get("attendees"))
            .and_then(Json::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|a| a.pointer("/emailAddress/address").and_then(Json::as_str))
                    .map(|a| a.trim().to_lowercase())
                    .filter(|a| !a.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        if attendees.is_empty() {
            return Ok((Some(patch), None));
        }
        let sync = &self.spec.mapping.sync;
        let managed = &self.engine.settings.managed_domains;
        let external = attendees.iter().any(|a| {
            let domain = a.rsplit('@').next().unwrap_or("");
            !managed.iter().any(|m| {
                m.trim()
                    .trim_start_matches('@')
                    .eq_ignore_ascii_case(domain)
            })
        });
        let allowed: Vec<&str> = match &sync.meeting_fields {
            Some(list) => list.iter().map(String::as_str).collect(),
            None => MEETING_FIELDS.to_vec(),
        };
        let quiet = external && !sync.notify_external_attendees.unwrap_or(false);
        let Json::Object(map) = patch else {
            return Ok((Some(patch), None));
        };
        let allowed_here: serde_json::Map<String, Json> = map
            .into_iter()
            .filter(|(k, _)| allowed.contains(&k.as_str()))
            .collect();
        let n_allowed = allowed_here.len();
        let kept: serde_json::Map<String, Json> = allowed_here
            .into_iter()
            .filter(|(k, _)| !quiet || SILENT_FIELDS.contains(&k.as_str()))
            .collect();
        let note = (kept.len() < n_allowed).then_some(
            "it has attendees outside the managed domains, whom Exchange would notify (set `sync.notify_external_attendees: true` in the mapping to allow it)",
        );
        let patch = (!kept.is_empty()).then_some(Json::Object(kept));
        Ok((patch, note))
    }
}

/// An event create's `transactionId`: the same for the same mailbox and record, so a retried create
/// (even after a restart) returns the first event.
fn transaction_id(mailbox: &str, stamp: &str) -> String {
    let mut fields = IndexMap::new();
    fields.insert("m".to_owned(), FieldValue::Text(mailbox.to_owned()));
    fields.insert("s".to_owned(), FieldValue::Text(stamp.to_owned()));
    let hash = content_hash(&fields);
    format!("gc-{}", hash.trim_start_matches("fnv1a64:"))
}

fn etag_change_key(etag: Option<&str>) -> Option<String> {
    etag.map(|e| e.trim_start_matches("W/").trim_matches('"').to_owned())
}
