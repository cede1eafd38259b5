//! `CrmTransport`: the engine's only view of Aurea CRM, and its implementations.
//!
//! * [`client::CrmClient`] speaks CRM.interface (XML over HTTP); every wire shape lives in [`encode`].
//! * Tests and `crm.transport: memory` run the same client against the in-process emulator (`crate::sandbox`).
//!
//! The domain types here ([`Record`], [`Condition`], [`Query`], [`Command`]) are independent of the mapping
//! model: tables and fields are the CRM's XML names, values are [`Value`]s.

pub mod client;
pub mod encode;
pub mod error;
pub mod ext_keys;
mod types;

use futures::future::BoxFuture;
use indexmap::IndexMap;

pub use error::{CrmError, CrmErrorKind};
pub use types::*;

/// The engine's view of the CRM.
///
/// # Contract
///
/// * **Object safe**: methods return [`BoxFuture`]s so the engine holds an `Arc<dyn CrmTransport>`.
///   Implementations provide [`execute`](Self::execute) and [`health_check`](Self::health_check); every
///   other method is a provided helper built on `execute`, so all implementations share their semantics.
/// * **Batching**: `execute` sends many commands in one round trip (one `<request>`). Commands run in
///   order. A command marked [`BatchCommand::after_success`] runs only if the command before it succeeded;
///   otherwise it is [`Reply::Skipped`] (on the wire a fired `<break>` also skips every later command of
///   the request, so treat `Skipped` as "not run" and send it again if it is still wanted).
/// * **Atomicity is per command, not per request**: a command that fails wrote nothing; commands before it
///   stay written. Each write command carries exactly one record.
/// * **Idempotency**: [`Command::Upsert`] (insert-or-update by a match key, e.g. the stored Graph id) is the
///   only create path the engine uses. Implementations retry transient failures; a write whose outcome is
///   unknown (timeout, dropped connection, 5xx after the request was sent) is checked by its match key
///   before it is repeated, so a retried upsert never duplicates a record. A plain [`Command::Insert`] whose
///   outcome is unknown is *not* repeated: it fails with [`CrmErrorKind::UnknownOutcome`]. Updates and
///   deletes by id are safe to repeat.
/// * **Errors**: a failure of the whole request (auth, transport, malformed answer) is the `Err` of
///   `execute`; a failure of one command is that command's `Err` in the result vector. Only
///   [`CrmErrorKind::Transient`] ([`CrmError::is_retryable`]) is worth retrying, and implementations have
///   already retried it a bounded number of times before returning it.
/// * **Values**: writes take typed [`Value`]s, encoded with the configured date/time formats; reads return
///   every field as [`Value::Text`] in wire form (or [`Value::Null`] for an empty field), so the caller
///   (which knows the mapping's field types) parses with [`WireFormats`]. The CRM does not distinguish an
///   empty text from no value.
/// * **Identity**: record ids are opaque, trimmed strings ([`RecordId`]); never compute with them.
/// * **Concurrency**: `&self` methods may be called concurrently from many tasks.
pub trait CrmTransport: Send + Sync {
    /// Runs `commands` in one round trip, acting as `actor`. One result per command, in order.
    fn execute<'a>(
        &'a self,
        actor: &'a Actor,
        commands: &'a [BatchCommand],
    ) -> BoxFuture<'a, Result<Vec<Result<Reply, CrmError>>, CrmError>>;

    /// Proves the CRM answers and the master user can log in (a one-record read of the rep table).
    fn health_check(&self) -> BoxFuture<'_, Result<Health, CrmError>>;

    /// Records matching `query` (nested child records inside their parents).
    fn query<'a>(
        &'a self,
        actor: &'a Actor,
        query: &'a Query,
    ) -> BoxFuture<'a, Result<Vec<Record>, CrmError>> {
        Box::pin(async move {
            let reply = single(self, actor, Command::Query(query.clone())).await?;
            reply.into_records()
        })
    }

    /// The undeleted record `id` of `table`, with `fields`, or `None`.
    fn read<'a>(
        &'a self,
        actor: &'a Actor,
        table: &'a str,
        id: &'a RecordId,
        fields: &'a [&'a str],
    ) -> BoxFuture<'a, Result<Option<Record>, CrmError>> {
        Box::pin(async move {
            let query = Query::table(table)
                .fields(fields.iter().copied())
                .filter(Condition::eq(table, ID_FIELD, id.as_str()));
            let mut records = self.query(actor, &query).await?;
            Ok(records.pop())
        })
    }

    /// Inserts a record without a match key. Prefer [`upsert`](Self::upsert): an insert whose answer is
    /// lost is not repeated.
    fn insert<'a>(
        &'a self,
        actor: &'a Actor,
        table: &'a str,
        fields: Fields,
    ) -> BoxFuture<'a, Result<RecordId, CrmError>> {
        Box::pin(async move {
            let command = Command::Insert {
                table: table.to_owned(),
                fields,
            };
            Ok(single(self, actor, command).await?.into_written()?.id)
        })
    }

    /// Sets `fields` of record `id`; other fields keep their values.
    fn update<'a>(
        &'a self,
        actor: &'a Actor,
        table: &'a str,
        id: &'a RecordId,
        fields: Fields,
    ) -> BoxFuture<'a, Result<(), CrmError>> {
        Box::pin(async move {
            let command = Command::Update {
                table: table.to_owned(),
                id: id.clone(),
                fields,
            };
            single(self, actor, command).await?.into_written().map(drop)
        })
    }

    /// Soft delete as the mappings mean it: sets the marker field (e.g. `ConnectorDeleted`) to `true`.
    fn soft_delete<'a>(
        &'a self,
        actor: &'a Actor,
        table: &'a str,
        id: &'a RecordId,
        marker_field: &'a str,
    ) -> BoxFuture<'a, Result<(), CrmError>> {
        let mut fields = Fields::new();
        fields.insert(marker_field.to_owned(), Value::Bool(true));
        self.update(actor, table, id, fields)
    }

    /// Deletes record `id` (the CRM keeps it with a deleted mark, visible only with
    /// [`CursorFlags::READ_DELETED`]).
    fn delete<'a>(
        &'a self,
        actor: &'a Actor,
        table: &'a str,
        id: &'a RecordId,
    ) -> BoxFuture<'a, Result<(), CrmError>> {
        Box::pin(async move {
            let command = Command::Delete {
                table: table.to_owned(),
                id: id.clone(),
            };
            single(self, actor, command).await?.into_written().map(drop)
        })
    }

    /// Inserts or updates the record whose `key` fields (all present in `fields`) equal the given values.
    fn upsert<'a>(
        &'a self,
        actor: &'a Actor,
        table: &'a str,
        key: &'a [&'a str],
        fields: Fields,
    ) -> BoxFuture<'a, Result<Written, CrmError>> {
        Box::pin(async move {
            let command = Command::Upsert {
                table: table.to_owned(),
                key: key.iter().map(|k| (*k).to_owned()).collect(),
                fields,
            };
            single(self, actor, command).await?.into_written()
        })
    }

    /// Reps with their e-mail and connector flags; `enabled_only` keeps those with `EnableConnector`.
    fn list_reps<'a>(
        &'a self,
        actor: &'a Actor,
        enabled_only: bool,
    ) -> BoxFuture<'a, Result<Vec<Rep>, CrmError>> {
        Box::pin(async move {
            let mut query = Query::table(REP_TABLE).fields(REP_FIELDS.iter().copied());
            if enabled_only {
                query = query.filter(Condition::eq(
                    REP_TABLE,
                    "EnableConnector",
                    Value::Bool(true),
                ));
            }
            let records = self.query(actor, &query).await?;
            Ok(records.iter().map(rep_from_record).collect())
        })
    }

    /// Resolves many e-mail addresses in one round trip to reps (`E-mail1`), persons (`E-mail1`,
    /// `E-mail2`, or a Tel.No./E-mail (TN) row linked to the person) and companies (a TN row of the
    /// company without a person). A person found several ways is listed once; different records sharing
    /// an address are all listed (the caller decides what ambiguity means). Comparison ignores case. The
    /// answer has one entry per distinct (trimmed) input address, in input order.
    fn resolve_emails<'a>(
        &'a self,
        actor: &'a Actor,
        addresses: &'a [String],
    ) -> BoxFuture<'a, Result<IndexMap<String, EmailMatches>, CrmError>> {
        Box::pin(async move {
            let (lookups, commands): (Vec<_>, Vec<_>) =
                types::resolve_email_commands(addresses).into_iter().unzip();
            let results = self.execute(actor, &commands).await?;
            types::collect_email_matches(addresses, &lookups, results)
        })
    }

    /// The values of catalog `name` (e.g. `ShowAs`, `Content Type (groupware)`): code, texts per language,
    /// external key.
    fn read_catalog<'a>(
        &'a self,
        actor: &'a Actor,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Vec<CatalogValue>, CrmError>> {
        Box::pin(async move {
            match single(self, actor, Command::ReadCatalog(name.to_owned())).await? {
                Reply::Catalog(values) => Ok(values),
                other => Err(unexpected(&other)),
            }
        })
    }

    /// Records of `table` created or changed at or after `since` (RFC 3339 UTC, e.g.
    /// `2026-11-26T10:00:00Z`), with `fields` plus the system field `Upd`, ordered by id.
    fn changed_since<'a>(
        &'a self,
        actor: &'a Actor,
        table: &'a str,
        since: jiff::Timestamp,
        fields: &'a [&'a str],
    ) -> BoxFuture<'a, Result<Vec<Record>, CrmError>> {
        Box::pin(async move {
            let query = Query::table(table)
                .fields(fields.iter().copied().chain([UPD_FIELD]))
                .filter(Condition::new(
                    table,
                    UPD_FIELD,
                    Op::Ge,
                    Value::Text(format_timestamp(since)),
                ));
            self.query(actor, &query).await
        })
    }
}

/// Runs one command and returns its reply (or its error).
async fn single<T: CrmTransport + ?Sized>(
    transport: &T,
    actor: &Actor,
    command: Command,
) -> Result<Reply, CrmError> {
    let commands = [BatchCommand::new(command)];
    let mut results = transport.execute(actor, &commands).await?;
    match results.pop() {
        Some(result) if results.is_empty() => result,
        _ => Err(CrmError::new(
            CrmErrorKind::Protocol,
            "expected exactly one result for one command",
        )),
    }
}

fn unexpected(reply: &Reply) -> CrmError {
    CrmError::new(
        CrmErrorKind::Protocol,
        format!("unexpected reply kind {}", reply.kind_name()),
    )
}
