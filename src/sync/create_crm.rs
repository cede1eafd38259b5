//! New CRM records for new Graph items, many per CRM.interface round trip and crash-safe (G18):
//!
//! 1. every create is journalled (match key: the Graph id; payload: the hash of the fields);
//! 2. one request reserves each item's XK row (Ext. System `GraphApi`, key = the Graph id, no record yet)
//!    and, only if that succeeded, inserts its record;
//! 3. a second request points each XK row at its new record and writes the correlation key's row;
//! 4. the journal entries are resolved and the links kept for the round's commit.
//!
//! A crash between 2 and 3 leaves reserved rows and pending journal entries: `recover` finds each record
//! by the payload hash and points the row, so the rerun never inserts twice. An answer that never came
//! (unknown outcome) leaves the entries pending for the same reason.

use crate::{
    mapping::FieldValue,
    plan::{Action, ActionKind, CrmRef, Fields, Flow},
    state::WriteId,
    transport::crm::{
        self, Actor, BatchCommand, Command, Condition, CrmErrorKind, Query, RecordId, Reply,
        ext_keys,
    },
};

use super::{
    apply::{Failure, Run},
    links::correlation_xk,
    write_crm::crm_fields,
};

/// Records created per pair of requests (two commands each in the first request).
pub const CREATES_PER_REQUEST: usize = 25;

struct Pending {
    n: usize,
    graph_id: String,
    fields: Fields,
    published: bool,
    write: WriteId,
    xk: ext_keys::ExtKey,
}

/// The fields on a serial appointment that name its master appointment (ISI), and the master's fields
/// they copy.
const SERIAL_KEY: [(&str, &str); 2] = [("ContactStatNo", "StatNo"), ("ContactSeqNo", "SeqNo")];

impl Run<'_> {
    /// For serial appointments of a template that has the fields: each master's key (`StatNo`, `SeqNo`)
    /// as the occurrence's `ContactStatNo` / `ContactSeqNo`, read in one round trip.
    async fn master_keys(
        &self,
        actions: &[(usize, &Action)],
    ) -> Result<std::collections::HashMap<String, Vec<(String, FieldValue)>>, Failure> {
        let mut out = std::collections::HashMap::new();
        let form = self.spec.mapping.form_fields.as_deref().unwrap_or_default();
        if !self.spec.series_fields || !SERIAL_KEY.iter().all(|(f, _)| form.iter().any(|x| x == f))
        {
            return Ok(out);
        }
        let mut masters: Vec<(String, String)> = Vec::new();
        for (_, action) in actions {
            let Some(master) = &action.series_master else {
                continue;
            };
            if let Some(link) = self.links.get(master)
                && !masters.iter().any(|(m, _)| m == master)
            {
                masters.push((master.clone(), link.crm_id.clone()));
            }
        }
        if masters.is_empty() {
            return Ok(out);
        }
        let table = &self.spec.mapping.table;
        let ids: Vec<Condition> = masters
            .iter()
            .map(|(_, id)| Condition::eq(table, crm::ID_FIELD, id.as_str()))
            .collect();
        let query = Query::table(table)
            .fields(SERIAL_KEY.iter().map(|(_, key)| *key))
            .filter(Condition::Or(ids));
        let records = self.engine.crm.query(&Actor::Master, &query).await?;
        for (master, id) in masters {
            let Some(record) = records.iter().find(|r| r.id.as_str() == id) else {
                continue;
            };
            let key: Vec<(String, FieldValue)> = SERIAL_KEY
                .iter()
                .filter_map(|(field, source)| {
                    let n: i64 = record.text(source)?.trim().parse().ok()?;
                    Some(((*field).to_owned(), FieldValue::Int(n)))
                })
                .collect();
            if key.len() == SERIAL_KEY.len() {
                out.insert(master, key);
            }
        }
        Ok(out)
    }

    /// Creates the records of `actions` (all Graph → CRM creates); one result per action index.
    pub(super) async fn create_records(
        &mut self,
        actions: &[(usize, &Action)],
    ) -> Result<Vec<(usize, Result<(), Failure>)>, Failure> {
        let mut results = Vec::new();
        let mut todo: Vec<Pending> = Vec::new();
        let masters = self.master_keys(actions).await?;
        for (n, action) in actions {
            let ActionKind::Create { fields, published } = &action.kind else {
                continue;
            };
            let mut fields = fields.clone();
            if let Some(key) = action.series_master.as_ref().and_then(|m| masters.get(m)) {
                for (field, value) in key {
                    fields.0.insert(field.clone(), value.clone());
                }
            }
            let fields = &fields;
            let graph_id = action.graph_id.clone().unwrap_or_default();
            // What `recover` will hash when it looks for the record: the compared fields only.
            let payload = self.crm_hash_after(None, fields, true);
            let write = self
                .begin(Flow::GraphToCrm, "create", None, &graph_id, &payload)
                .await?;
            let mut xk = ext_keys::ExtKey::graph(
                &graph_id,
                &self.spec.mapping.content_type,
                ext_keys::info_area(&self.spec.mapping.table),
                None,
            );
            xk.rep_id = Some(self.entry.rep.rep_id.clone());
            todo.push(Pending {
                n: *n,
                graph_id,
                fields: fields.clone(),
                published: *published,
                write,
                xk,
            });
        }
        let mut created: Vec<(Pending, RecordId)> = Vec::new();
        // A failed command makes CRM.interface skip the rest of the request: send the skipped again.
        while !todo.is_empty() {
            let commands: Vec<BatchCommand> = todo
                .iter()
                .flat_map(|p| {
                    [
                        BatchCommand::new(ext_keys::put_command(&p.xk)),
                        BatchCommand::after_success(Command::Insert {
                            table: self.spec.mapping.table.clone(),
                            fields: crm_fields(&p.fields, &[]),
                        }),
                    ]
                })
                .collect();
            let replies = match self.engine.crm.execute(&Actor::Master, &commands).await {
                Ok(replies) => replies,
                Err(e) => {
                    // Unknown outcome: leave the entries pending for `recover`.
                    let definite = !matches!(e.kind, CrmErrorKind::UnknownOutcome);
                    for p in todo.drain(..) {
                        if definite {
                            self.resolve(p.write, Err(&e.to_string())).await?;
                        }
                        results.push((p.n, Err(Failure::from(e.clone()))));
                    }
                    if matches!(Failure::from(e.clone()), Failure::Mailbox(_)) {
                        return Err(Failure::from(e));
                    }
                    break;
                }
            };
            let mut skipped = Vec::new();
            let mut replies = replies.into_iter();
            let before = todo.len();
            for p in todo.drain(..) {
                let reserve = replies.next();
                let insert = replies.next();
                match (reserve, insert) {
                    (_, Some(Ok(Reply::Written(w)))) => created.push((p, w.id)),
                    (Some(Ok(Reply::Skipped)), _) | (_, Some(Ok(Reply::Skipped))) => {
                        skipped.push(p)
                    }
                    (Some(Err(e)), _) | (_, Some(Err(e))) => {
                        self.resolve(p.write, Err(&e.to_string())).await?;
                        results.push((p.n, Err(Failure::from(e))));
                    }
                    _ => {
                        let e = crm::CrmError::new(
                            CrmErrorKind::Protocol,
                            "the CRM answered fewer results than commands",
                        );
                        self.resolve(p.write, Err(&e.to_string())).await?;
                        results.push((p.n, Err(Failure::from(e))));
                    }
                }
            }
            if skipped.len() == before {
                for p in skipped.drain(..) {
                    self.resolve(p.write, Err("not run by the CRM")).await?;
                    results.push((p.n, Err(Failure::Item("not run by the CRM".into()))));
                }
            }
            todo = skipped;
        }
        if created.is_empty() {
            return Ok(results);
        }
        // Point every reserved XK row at its record, and write the correlation rows.
        let mut commands = Vec::new();
        for (p, id) in &mut created {
            p.xk.rec_id = Some(id.clone());
            commands.push(BatchCommand::new(ext_keys::put_command(&p.xk)));
        }
        let mut correlation_rows = Vec::new();
        for (p, id) in &created {
            if let Some(corr) = self.correlation_of(&p.graph_id) {
                let record = CrmRef {
                    table: self.spec.mapping.table.clone(),
                    id: id.to_string(),
                };
                let xk = self.xk_row(&correlation_xk(self.spec, &corr), &record);
                correlation_rows.push(BatchCommand::new(ext_keys::put_command(&xk)));
            }
        }
        commands.extend(correlation_rows);
        let replies = self.engine.crm.execute(&Actor::Master, &commands).await;
        let replies: Vec<Option<Result<Reply, crm::CrmError>>> = match replies {
            Ok(r) => r.into_iter().map(Some).collect(),
            Err(e) => {
                if matches!(Failure::from(e.clone()), Failure::Mailbox(_)) {
                    return Err(Failure::from(e));
                }
                (0..commands.len()).map(|_| None).collect()
            }
        };
        for (k, (p, id)) in created.into_iter().enumerate() {
            match replies.get(k).cloned().flatten() {
                Some(Ok(Reply::Written(_))) => {}
                other => {
                    // The record exists but its XK row does not name it yet: the entry stays pending,
                    // and `recover` points the row next cycle (it finds the record by its payload).
                    let why = match other {
                        Some(Err(e)) => e.to_string(),
                        _ => "the CRM did not confirm the external key".into(),
                    };
                    results.push((p.n, Err(Failure::Item(why))));
                    continue;
                }
            }
            self.resolve(p.write, Ok(Some(id.to_string()))).await?;
            let record = CrmRef {
                table: self.spec.mapping.table.clone(),
                id: id.to_string(),
            };
            let mut link = self.new_link(&p.graph_id, &record, "graph");
            link.graph_hash = self.graph_hash_of(&p.graph_id);
            link.crm_hash = self.crm_hash_after(None, &p.fields, true);
            link.published = p.published;
            link.authoritative = self.authoritative(&p.graph_id, p.published);
            let after = link.crm_hash.clone();
            self.keep_link(link);
            self.audit(
                Flow::GraphToCrm,
                "create",
                Some(&p.graph_id),
                Some(&record),
                None,
                Some(after),
            );
            results.push((p.n, Ok(())));
        }
        Ok(results)
    }
}
