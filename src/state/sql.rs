//! What both SQL backends share, so they cannot drift apart: the statements (written in the SQL that
//! SQLite and PostgreSQL both accept: `$N` parameters, `ON CONFLICT … DO UPDATE`, `RETURNING`), row
//! decoding, error mapping, and the one `StateStore` implementation (`impl_state_store!`) expanded for
//! each backend's pool and transaction types.
//!
//! Times are stored as integer milliseconds since the Unix epoch (UTC).

use jiff::Timestamp;
use sqlx::{ColumnIndex, Decode, Row, Type};

use super::{
    AuditEntry, JournalEntry, Link, MailboxStatus, PendingWrite, RoundCommit, StateError,
    StateErrorKind, WriteId,
};

pub const GET_LINK: &str = "SELECT mailbox, resource, graph_id, correlation_key, change_key, crm_table, crm_id, graph_hash, crm_hash, mapping_version, updated_at \
     FROM links WHERE mailbox = $1 AND resource = $2 AND graph_id = $3";
pub const LINK_BY_CRM: &str = "SELECT mailbox, resource, graph_id, correlation_key, change_key, crm_table, crm_id, graph_hash, crm_hash, mapping_version, updated_at \
     FROM links WHERE mailbox = $1 AND resource = $2 AND crm_table = $3 AND crm_id = $4";
pub const LINKS_BY_CRM: &str = "SELECT mailbox, resource, graph_id, correlation_key, change_key, crm_table, crm_id, graph_hash, crm_hash, mapping_version, updated_at \
     FROM links WHERE crm_table = $1 AND crm_id = $2 ORDER BY mailbox, resource, graph_id";
pub const LINKS_BY_CORRELATION: &str = "SELECT mailbox, resource, graph_id, correlation_key, change_key, crm_table, crm_id, graph_hash, crm_hash, mapping_version, updated_at \
     FROM links WHERE resource = $1 AND correlation_key = $2 ORDER BY mailbox, graph_id";
pub const LIST_LINKS: &str = "SELECT mailbox, resource, graph_id, correlation_key, change_key, crm_table, crm_id, graph_hash, crm_hash, mapping_version, updated_at \
     FROM links WHERE mailbox = $1 AND resource = $2 ORDER BY graph_id";
pub const COUNT_LINKS: &str = "SELECT COUNT(*) FROM links WHERE mailbox = $1 AND resource = $2";
pub const UPSERT_LINK: &str = "INSERT INTO links (mailbox, resource, graph_id, correlation_key, change_key, crm_table, crm_id, graph_hash, crm_hash, mapping_version, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
     ON CONFLICT (mailbox, resource, graph_id) DO UPDATE SET correlation_key = excluded.correlation_key, \
     change_key = excluded.change_key, crm_table = excluded.crm_table, crm_id = excluded.crm_id, \
     graph_hash = excluded.graph_hash, crm_hash = excluded.crm_hash, \
     mapping_version = excluded.mapping_version, updated_at = excluded.updated_at";
pub const DELETE_LINK: &str =
    "DELETE FROM links WHERE mailbox = $1 AND resource = $2 AND graph_id = $3";

pub const GET_CURSOR: &str =
    "SELECT value FROM cursors WHERE mailbox = $1 AND resource = $2 AND scope = $3";
pub const LIST_CURSORS: &str =
    "SELECT scope, value FROM cursors WHERE mailbox = $1 AND resource = $2 ORDER BY scope";
pub const UPSERT_CURSOR: &str = "INSERT INTO cursors (mailbox, resource, scope, value) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (mailbox, resource, scope) DO UPDATE SET value = excluded.value";
pub const DELETE_CURSOR: &str =
    "DELETE FROM cursors WHERE mailbox = $1 AND resource = $2 AND scope = $3";
pub const FORGET_CURSORS: &str = "DELETE FROM cursors WHERE mailbox = $1";
pub const FORGET_RESOURCE_CURSORS: &str =
    "DELETE FROM cursors WHERE mailbox = $1 AND resource = $2";

pub const UPSERT_STATUS: &str = "INSERT INTO mailbox_status (mailbox, address, last_success, last_error_at, last_error, last_fix, counts) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) \
     ON CONFLICT (mailbox) DO UPDATE SET address = excluded.address, last_success = excluded.last_success, \
     last_error_at = excluded.last_error_at, last_error = excluded.last_error, \
     last_fix = excluded.last_fix, counts = excluded.counts";
pub const GET_STATUS: &str = "SELECT mailbox, address, last_success, last_error_at, last_error, last_fix, counts \
     FROM mailbox_status WHERE mailbox = $1";
pub const LIST_STATUS: &str = "SELECT mailbox, address, last_success, last_error_at, last_error, last_fix, counts \
     FROM mailbox_status ORDER BY mailbox";

pub const BEGIN_WRITE: &str = "INSERT INTO write_journal (mailbox, resource, direction, action, target, match_key, payload_hash, started_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id";
pub const RESOLVE_WRITE: &str = "UPDATE write_journal SET resolved_at = $2, status = $3, result_id = $4, detail = $5 \
     WHERE id = $1 AND resolved_at IS NULL";
pub const WRITE_RESOLVED_AT: &str = "SELECT resolved_at FROM write_journal WHERE id = $1";
pub const PENDING_WRITES: &str = "SELECT id, mailbox, resource, direction, action, target, match_key, payload_hash, started_at \
     FROM write_journal WHERE mailbox = $1 AND resolved_at IS NULL ORDER BY id";

pub const INSERT_AUDIT: &str = "INSERT INTO audit_log (time, mailbox, resource, direction, action, graph_id, crm_id, mapping_version, before_hash, after_hash) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
pub const AUDIT_ALL: &str = "SELECT time, mailbox, resource, direction, action, graph_id, crm_id, mapping_version, before_hash, after_hash \
     FROM audit_log ORDER BY id DESC LIMIT $1";
pub const AUDIT_MAILBOX: &str = "SELECT time, mailbox, resource, direction, action, graph_id, crm_id, mapping_version, before_hash, after_hash \
     FROM audit_log WHERE mailbox = $2 ORDER BY id DESC LIMIT $1";

/// The highest migration the database has applied (sqlx's bookkeeping table).
pub const APPLIED_VERSION: &str = "SELECT MAX(version) FROM _sqlx_migrations";

/// A database error while doing `what` on `table`; unique violations become [`StateErrorKind::Conflict`].
pub fn db_error(location: &str, table: &str, what: &str, err: sqlx::Error) -> StateError {
    let unique = matches!(&err, sqlx::Error::Database(db) if db.is_unique_violation());
    if unique {
        let message = match table {
            "links" => format!(
                "state store at {location}: cannot {what} in table `links`: the graph item or the crm record is already linked in this mailbox and resource (each is linked at most once)"
            ),
            _ => format!(
                "state store at {location}: cannot {what} in table `{table}`: a row with the same key exists"
            ),
        };
        return StateError::new(StateErrorKind::Conflict, message).with_source(err);
    }
    StateError::new(
        StateErrorKind::Backend,
        format!("state store at {location}: cannot {what} in table `{table}`: {err}"),
    )
    .with_source(err)
}

/// The error for a database whose schema is newer than the migrations this binary embeds.
pub fn schema_too_new(location: &str, applied: i64, known: i64) -> StateError {
    StateError::new(
        StateErrorKind::SchemaTooNew,
        format!(
            "state store at {location} has schema version {applied}, newer than this graph-connector knows ({known}): upgrade graph-connector or point state.location at another store"
        ),
    )
}

/// Maps a failed migration run; `applied` is the database's highest version when sqlx found a version
/// it does not know.
pub fn migrate_error(
    location: &str,
    err: sqlx::migrate::MigrateError,
    applied: Option<i64>,
    known: i64,
) -> StateError {
    match (err, applied) {
        (sqlx::migrate::MigrateError::VersionMissing(v), applied) => {
            let applied = applied.unwrap_or(v).max(v);
            if applied > known {
                schema_too_new(location, applied, known)
            } else {
                StateError::new(
                    StateErrorKind::Migrate,
                    format!(
                        "state store at {location} has applied migration {v}, which this graph-connector does not have (it knows up to {known}): use the graph-connector that created this store"
                    ),
                )
            }
        }
        (err, _) => StateError::new(
            StateErrorKind::Migrate,
            format!("state store at {location}: cannot apply schema migrations: {err}"),
        ),
    }
}

pub fn millis(ts: Timestamp) -> i64 {
    ts.as_millisecond()
}

pub fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Checks that a round's rows belong to its mailbox and resource.
pub fn check_round(location: &str, round: &RoundCommit) -> Result<(), StateError> {
    let bad_link = round
        .upsert_links
        .iter()
        .find(|l| l.mailbox != round.mailbox || l.resource != round.resource);
    if let Some(link) = bad_link {
        return Err(StateError::new(
            StateErrorKind::InvalidInput,
            format!(
                "state store at {location}: round of mailbox `{}` resource `{}` carries a link of mailbox `{}` resource `{}` (graph id `{}`): expected only links of the round's mailbox and resource",
                round.mailbox, round.resource, link.mailbox, link.resource, link.graph_id
            ),
        ));
    }
    if let Some(entry) = round.audit.iter().find(|a| a.mailbox != round.mailbox) {
        return Err(StateError::new(
            StateErrorKind::InvalidInput,
            format!(
                "state store at {location}: round of mailbox `{}` carries an audit entry of mailbox `{}`: expected only the round's mailbox",
                round.mailbox, entry.mailbox
            ),
        ));
    }
    Ok(())
}

/// One column of one row, or a [`StateErrorKind::Corrupt`] error naming it.
fn get<'r, R, T>(row: &'r R, column: &str, location: &str, table: &str) -> Result<T, StateError>
where
    R: Row,
    for<'s> &'s str: ColumnIndex<R>,
    T: Decode<'r, R::Database> + Type<R::Database>,
{
    row.try_get(column).map_err(|err| {
        StateError::new(
            StateErrorKind::Corrupt,
            format!(
                "state store at {location}: cannot read column `{column}` of table `{table}`: {err}"
            ),
        )
        .with_source(err)
    })
}

fn time(ms: i64, column: &str, location: &str, table: &str) -> Result<Timestamp, StateError> {
    Timestamp::from_millisecond(ms).map_err(|err| {
        StateError::new(
            StateErrorKind::Corrupt,
            format!(
                "state store at {location}: column `{column}` of table `{table}` holds {ms}, expected milliseconds since 1970 within jiff's range: {err}"
            ),
        )
    })
}

fn opt_time(
    ms: Option<i64>,
    column: &str,
    location: &str,
    table: &str,
) -> Result<Option<Timestamp>, StateError> {
    ms.map(|ms| time(ms, column, location, table)).transpose()
}

pub fn link_from_row<R>(row: &R, location: &str) -> Result<Link, StateError>
where
    R: Row,
    for<'s> &'s str: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
{
    let t = "links";
    Ok(Link {
        mailbox: get(row, "mailbox", location, t)?,
        resource: get(row, "resource", location, t)?,
        graph_id: get(row, "graph_id", location, t)?,
        correlation_key: get(row, "correlation_key", location, t)?,
        change_key: get(row, "change_key", location, t)?,
        crm_table: get(row, "crm_table", location, t)?,
        crm_id: get(row, "crm_id", location, t)?,
        graph_hash: get(row, "graph_hash", location, t)?,
        crm_hash: get(row, "crm_hash", location, t)?,
        mapping_version: get(row, "mapping_version", location, t)?,
        updated_at: time(
            get(row, "updated_at", location, t)?,
            "updated_at",
            location,
            t,
        )?,
    })
}

pub fn status_from_row<R>(row: &R, location: &str) -> Result<MailboxStatus, StateError>
where
    R: Row,
    for<'s> &'s str: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
{
    let t = "mailbox_status";
    let counts: String = get(row, "counts", location, t)?;
    let counts = serde_json::from_str(&counts).map_err(|err| {
        StateError::new(
            StateErrorKind::Corrupt,
            format!("state store at {location}: column `counts` of table `{t}` is not JSON: {err}"),
        )
    })?;
    Ok(MailboxStatus {
        mailbox: get(row, "mailbox", location, t)?,
        address: get(row, "address", location, t)?,
        last_success: opt_time(
            get(row, "last_success", location, t)?,
            "last_success",
            location,
            t,
        )?,
        last_error_at: opt_time(
            get(row, "last_error_at", location, t)?,
            "last_error_at",
            location,
            t,
        )?,
        last_error: get(row, "last_error", location, t)?,
        last_fix: get(row, "last_fix", location, t)?,
        counts,
    })
}

pub fn counts_json(location: &str, status: &MailboxStatus) -> Result<String, StateError> {
    serde_json::to_string(&status.counts).map_err(|err| {
        StateError::new(
            StateErrorKind::InvalidInput,
            format!(
                "state store at {location}: counts of mailbox `{}` cannot be written as JSON: {err}",
                status.mailbox
            ),
        )
    })
}

pub fn pending_from_row<R>(row: &R, location: &str) -> Result<PendingWrite, StateError>
where
    R: Row,
    for<'s> &'s str: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
{
    let t = "write_journal";
    Ok(PendingWrite {
        id: WriteId(get(row, "id", location, t)?),
        entry: JournalEntry {
            mailbox: get(row, "mailbox", location, t)?,
            resource: get(row, "resource", location, t)?,
            direction: get(row, "direction", location, t)?,
            action: get(row, "action", location, t)?,
            target: get(row, "target", location, t)?,
            match_key: get(row, "match_key", location, t)?,
            payload_hash: get(row, "payload_hash", location, t)?,
            started_at: time(
                get(row, "started_at", location, t)?,
                "started_at",
                location,
                t,
            )?,
        },
    })
}

pub fn audit_from_row<R>(row: &R, location: &str) -> Result<AuditEntry, StateError>
where
    R: Row,
    for<'s> &'s str: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
{
    let t = "audit_log";
    Ok(AuditEntry {
        time: time(get(row, "time", location, t)?, "time", location, t)?,
        mailbox: get(row, "mailbox", location, t)?,
        resource: get(row, "resource", location, t)?,
        direction: get(row, "direction", location, t)?,
        action: get(row, "action", location, t)?,
        graph_id: get(row, "graph_id", location, t)?,
        crm_id: get(row, "crm_id", location, t)?,
        mapping_version: get(row, "mapping_version", location, t)?,
        before_hash: get(row, "before_hash", location, t)?,
        after_hash: get(row, "after_hash", location, t)?,
    })
}

/// The one `StateStore` implementation, expanded for a backend type with fields `pool` (an sqlx pool) and
/// `location` (display string) and a method `async fn begin(&self) -> Result<Transaction, StateError>`
/// that opens a write transaction.
macro_rules! impl_state_store {
    ($store:ty) => {
        impl $crate::state::StateStore for $store {
            fn location(&self) -> String {
                self.location.clone()
            }

            fn get_link<'a>(
                &'a self,
                mailbox: &'a str,
                resource: &'a str,
                graph_id: &'a str,
            ) -> ::futures::future::BoxFuture<
                'a,
                Result<Option<$crate::state::Link>, $crate::state::StateError>,
            > {
                use $crate::state::sql;
                Box::pin(async move {
                    let loc = &self.location;
                    sqlx::query(sql::GET_LINK)
                        .bind(mailbox)
                        .bind(resource)
                        .bind(graph_id)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(|e| sql::db_error(loc, "links", "read a link", e))?
                        .map(|row| sql::link_from_row(&row, loc))
                        .transpose()
                })
            }

            fn link_by_crm<'a>(
                &'a self,
                mailbox: &'a str,
                resource: &'a str,
                crm: &'a $crate::state::CrmRef,
            ) -> ::futures::future::BoxFuture<
                'a,
                Result<Option<$crate::state::Link>, $crate::state::StateError>,
            > {
                use $crate::state::sql;
                Box::pin(async move {
                    let loc = &self.location;
                    sqlx::query(sql::LINK_BY_CRM)
                        .bind(mailbox)
                        .bind(resource)
                        .bind(&crm.table)
                        .bind(&crm.id)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(|e| sql::db_error(loc, "links", "read a link", e))?
                        .map(|row| sql::link_from_row(&row, loc))
                        .transpose()
                })
            }

            fn links_by_crm<'a>(
                &'a self,
                crm: &'a $crate::state::CrmRef,
            ) -> ::futures::future::BoxFuture<
                'a,
                Result<Vec<$crate::state::Link>, $crate::state::StateError>,
            > {
                use $crate::state::sql;
                Box::pin(async move {
                    let loc = &self.location;
                    sqlx::query(sql::LINKS_BY_CRM)
                        .bind(&crm.table)
                        .bind(&crm.id)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(|e| sql::db_error(loc, "links", "read links", e))?
                        .iter()
                        .map(|row| sql::link_from_row(row, loc))
                        .collect()
                })
            }

            fn links_by_correlation<'a>(
                &'a self,
                resource: &'a str,
                key: &'a str,
            ) -> ::futures::future::BoxFuture<
                'a,
                Result<Vec<$crate::state::Link>, $crate::state::StateError>,
            > {
                use $crate::state::sql;
                Box::pin(async move {
                    let loc = &self.location;
                    sqlx::query(sql::LINKS_BY_CORRELATION)
                        .bind(resource)
                        .bind(key)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(|e| sql::db_error(loc, "links", "read links", e))?
                        .iter()
                        .map(|row| sql::link_from_row(row, loc))
                        .collect()
                })
            }

            fn list_links<'a>(
                &'a self,
                mailbox: &'a str,
                resource: &'a str,
            ) -> ::futures::future::BoxFuture<
                'a,
                Result<Vec<$crate::state::Link>, $crate::state::StateError>,
            > {
                use $crate::state::sql;
                Box::pin(async move {
                    let loc = &self.location;
                    sqlx::query(sql::LIST_LINKS)
                        .bind(mailbox)
                        .bind(resource)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(|e| sql::db_error(loc, "links", "read links", e))?
                        .iter()
                        .map(|row| sql::link_from_row(row, loc))
                        .collect()
                })
            }

            fn count_links<'a>(
                &'a self,
                mailbox: &'a str,
                resource: &'a str,
            ) -> ::futures::future::BoxFuture<'a, Result<u64, $crate::state::StateError>> {
                use $crate::state::sql;
                Box::pin(async move {
                    let loc = &self.location;
                    let n: i64 = sqlx::query_scalar(sql::COUNT_LINKS)
                        .bind(mailbox)
                        .bind(resource)
                        .fetch_one(&self.pool)
                        .await
                        .map_err(|e| sql::db_error(loc, "links", "count links", e))?;
                    Ok(u64::try_from(n).unwrap_or(0))
                })
            }

            fn put_link<'a>(
                &'a self,
                link: &'a $crate::state::Link,
            ) -> ::futures::future::BoxFuture<'a, Result<(), $crate::state::StateError>> {
                use $crate::state::sql;
                Box::pin(async move {
                    let loc = &self.location;
                    let mut tx = self.begin().await?;
                    Self::upsert_link(&mut *tx, loc, link).await?;
                    tx.commit()
                        .await
                        .map_err(|e| sql::db_error(loc, "links", "commit a link", e))
                })
            }

            fn delete_link<'a>(
                &'a self,
                mailbox: &'a str,
                resource: &'a str,
                graph_id: &'a str,
            ) -> ::futures::future::BoxFuture<'a, Result<bool, $crate::state::StateError>> {
                use $crate::state::sql;
                Box::pin(async move {
                    let loc = &self.location;
                    let mut tx = self.begin().await?;
                    let n = sqlx::query(sql::DELETE_LINK)
                        .bind(mailbox)
                        .bind(resource)
                        .bind(graph_id)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| sql::db_error(loc, "links", "delete a link", e))?
                        .rows_affected();
                    tx.commit()
                        .await
                        .map_err(|e| sql::db_error(loc, "links", "delete a link", e))?;
                    Ok(n > 0)
                })
            }

            fn get_cursor<'a>(
                &'a self,
                mailbox: &'a str,
                resource: &'a str,
                scope: &'a str,
            ) -> ::futures::future::BoxFuture<'a, Result<Option<String>, $crate::state::StateError>>
            {
                use $crate::state::sql;
                Box::pin(async move {
                    let loc = &self.location;
                    sqlx::query_scalar(sql::GET_CURSOR)
                        .bind(mailbox)
                        .bind(resource)
                        .bind(scope)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(|e| sql::db_error(loc, "cursors", "read a cursor", e))
                })
            }

            fn list_cursors<'a>(
                &'a self,
                mailbox: &'a str,
                resource: &'a str,
            ) -> ::futures::future::BoxFuture<
                'a,
                Result<Vec<(String, String)>, $crate::state::StateError>,
            > {
                use $crate::state::sql;
                Box::pin(async move {
                    let loc = &self.location;
                    sqlx::query_as(sql::LIST_CURSORS)
                        .bind(mailbox)
                        .bind(resource)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(|e| sql::db_error(loc, "cursors", "read cursors", e))
                })
            }

            fn put_cursor<'a>(
                &'a self,
                mailbox: &'a str,
                resource: &'a str,
                scope: &'a str,
                value: &'a str,
            ) -> ::futures::future::BoxFuture<'a, Result<(), $crate::state::StateError>> {
                use $crate::state::sql;
                Box::pin(async move {
                    let loc = &self.location;
                    let mut tx = self.begin().await?;
                    Self::upsert_cursor(&mut *tx, loc, mailbox, resource, scope, value).await?;
                    tx.commit()
                        .await
                        .map_err(|e| sql::db_error(loc, "cursors", "write a cursor", e))
                })
            }

            fn delete_cursor<'a>(
                &'a self,
                mailbox: &'a str,
                resource: &'a str,
                scope: &'a str,
            ) -> ::futures::future::BoxFuture<'a, Result<bool, $crate::state::StateError>> {
                use $crate::state::sql;
                Box::pin(async move {
                    let loc = &self.location;
                    let mut tx = self.begin().await?;
                    let n = sqlx::query(sql::DELETE_CURSOR)
                        .bind(mailbox)
                        .bind(resource)
                        .bind(scope)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| sql::db_error(loc, "cursors", "delete a cursor", e))?
                        .rows_affected();
                    tx.commit()
                        .await
                        .map_err(|e| sql::db_error(loc, "cursors", "delete a cursor", e))?;
                    Ok(n > 0)
                })
            }

            fn forget_cursors<'a>(
                &'a self,
                mailbox: &'a str,
                resource: Option<&'a str>,
            ) -> ::futures::future::BoxFuture<'a, Result<u64, $crate::state::StateError>> {
                use $crate::state::sql;
                Box::pin(async move {
                    let loc = &self.location;
                    let mut tx = self.begin().await?;
                    let query = match resource {
                        Some(resource) => sqlx::query(sql::FORGET_RESOURCE_CURSORS)
                            .bind(mailbox)
                            .bind(resource),
                        None => sqlx::query(sql::FORGET_CURSORS).bind(mailbox),
                    };
                    let n = query
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| sql::db_error(loc, "cursors", "forget cursors", e))?
                        .rows_affected();
                    tx.commit()
                        .await
                        .map_err(|e| sql::db_error(loc, "cursors", "forget cursors", e))?;
                    Ok(n)
                })
            }

            fn put_status<'a>(
                &'a self,
                status: &'a $crate::state::MailboxStatus,
            ) -> ::futures::future::BoxFuture<'a, Result<(), $crate::state::StateError>> {
                use $crate::state::sql;
                Box::pin(async move {
                    let loc = &self.location;
                    let counts = sql::counts_json(loc, status)?;
                    let mut tx = self.begin().await?;
                    sqlx::query(sql::UPSERT_STATUS)
                        .bind(&status.mailbox)
                        .bind(&status.address)
                        .bind(status.last_success.map(sql::millis))
                        .bind(status.last_error_at.map(sql::millis))
                        .bind(&status.last_error)
                        .bind(&status.last_fix)
                        .bind(counts)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| sql::db_error(loc, "mailbox_status", "write a status", e))?;
                    tx.commit()
                        .await
                        .map_err(|e| sql::db_error(loc, "mailbox_status", "write a status", e))
                })
            }

            fn get_status<'a>(
                &'a self,
                mailbox: &'a str,
            ) -> ::futures::future::BoxFuture<
                'a,
                Result<Option<$crate::state::MailboxStatus>, $crate::state::StateError>,
            > {
                use $crate::state::sql;
                Box::pin(async move {
                    let loc = &self.location;
                    sqlx::query(sql::GET_STATUS)
                        .bind(mailbox)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(|e| sql::db_error(loc, "mailbox_status", "read a status", e))?
                        .map(|row| sql::status_from_row(&row, loc))
                        .transpose()
                })
            }

            fn list_status(
                &self,
            ) -> ::futures::future::BoxFuture<
                '_,
                Result<Vec<$crate::state::MailboxStatus>, $crate::state::StateError>,
            > {
                use $crate::state::sql;
                Box::pin(async move {
                    let loc = &self.location;
                    sqlx::query(sql::LIST_STATUS)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(|e| sql::db_error(loc, "mailbox_status", "read statuses", e))?
                        .iter()
                        .map(|row| sql::status_from_row(row, loc))
                        .collect()
                })
            }

            fn begin_write<'a>(
                &'a self,
                entry: &'a $crate::state::JournalEntry,
            ) -> ::futures::future::BoxFuture<
                'a,
                Result<$crate::state::WriteId, $crate::state::StateError>,
            > {
                use $crate::state::sql;
                Box::pin(async move {
                    let loc = &self.location;
                    let what = "record a write intent";
                    let mut tx = self.begin().await?;
                    let id: i64 = sqlx::query_scalar(sql::BEGIN_WRITE)
                        .bind(&entry.mailbox)
                        .bind(&entry.resource)
                        .bind(&entry.direction)
                        .bind(&entry.action)
                        .bind(&entry.target)
                        .bind(&entry.match_key)
                        .bind(&entry.payload_hash)
                        .bind(sql::millis(entry.started_at))
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(|e| sql::db_error(loc, "write_journal", what, e))?;
                    tx.commit()
                        .await
                        .map_err(|e| sql::db_error(loc, "write_journal", what, e))?;
                    Ok($crate::state::WriteId(id))
                })
            }

            fn resolve_write<'a>(
                &'a self,
                id: $crate::state::WriteId,
                outcome: &'a $crate::state::Outcome,
            ) -> ::futures::future::BoxFuture<'a, Result<(), $crate::state::StateError>> {
                use $crate::state::{StateError, StateErrorKind, sql};
                Box::pin(async move {
                    let loc = &self.location;
                    let what = "resolve a write";
                    let mut tx = self.begin().await?;
                    let n = sqlx::query(sql::RESOLVE_WRITE)
                        .bind(id.0)
                        .bind(sql::millis(outcome.resolved_at))
                        .bind(outcome.status.as_str())
                        .bind(&outcome.result_id)
                        .bind(&outcome.detail)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| sql::db_error(loc, "write_journal", what, e))?
                        .rows_affected();
                    if n == 0 {
                        let found: Option<Option<i64>> = sqlx::query_scalar(sql::WRITE_RESOLVED_AT)
                            .bind(id.0)
                            .fetch_optional(&mut *tx)
                            .await
                            .map_err(|e| sql::db_error(loc, "write_journal", what, e))?;
                        return Err(match found {
                            None => StateError::new(
                                StateErrorKind::NotFound,
                                format!(
                                    "state store at {loc}: cannot resolve write {id}: table `write_journal` has no such entry (expected an id returned by begin_write)"
                                ),
                            ),
                            Some(_) => StateError::new(
                                StateErrorKind::AlreadyResolved,
                                format!(
                                    "state store at {loc}: cannot resolve write {id}: its entry in table `write_journal` is already resolved (expected each write resolved once)"
                                ),
                            ),
                        });
                    }
                    tx.commit()
                        .await
                        .map_err(|e| sql::db_error(loc, "write_journal", what, e))
                })
            }

            fn pending_writes<'a>(
                &'a self,
                mailbox: &'a str,
            ) -> ::futures::future::BoxFuture<
                'a,
                Result<Vec<$crate::state::PendingWrite>, $crate::state::StateError>,
            > {
                use $crate::state::sql;
                Box::pin(async move {
                    let loc = &self.location;
                    sqlx::query(sql::PENDING_WRITES)
                        .bind(mailbox)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(|e| sql::db_error(loc, "write_journal", "read pending writes", e))?
                        .iter()
                        .map(|row| sql::pending_from_row(row, loc))
                        .collect()
                })
            }

            fn append_audit<'a>(
                &'a self,
                entries: &'a [$crate::state::AuditEntry],
            ) -> ::futures::future::BoxFuture<'a, Result<(), $crate::state::StateError>> {
                use $crate::state::sql;
                Box::pin(async move {
                    let loc = &self.location;
                    let mut tx = self.begin().await?;
                    Self::insert_audit(&mut *tx, loc, entries).await?;
                    tx.commit()
                        .await
                        .map_err(|e| sql::db_error(loc, "audit_log", "append audit entries", e))
                })
            }

            fn audit<'a>(
                &'a self,
                mailbox: Option<&'a str>,
                limit: usize,
            ) -> ::futures::future::BoxFuture<
                'a,
                Result<Vec<$crate::state::AuditEntry>, $crate::state::StateError>,
            > {
                use $crate::state::sql;
                Box::pin(async move {
                    let loc = &self.location;
                    let query = match mailbox {
                        Some(mailbox) => sqlx::query(sql::AUDIT_MAILBOX)
                            .bind(sql::limit(limit))
                            .bind(mailbox),
                        None => sqlx::query(sql::AUDIT_ALL).bind(sql::limit(limit)),
                    };
                    query
                        .fetch_all(&self.pool)
                        .await
                        .map_err(|e| sql::db_error(loc, "audit_log", "read the audit log", e))?
                        .iter()
                        .map(|row| sql::audit_from_row(row, loc))
                        .collect()
                })
            }

            fn commit_round<'a>(
                &'a self,
                round: &'a $crate::state::RoundCommit,
            ) -> ::futures::future::BoxFuture<'a, Result<(), $crate::state::StateError>> {
                use $crate::state::sql;
                Box::pin(async move {
                    let loc = &self.location;
                    sql::check_round(loc, round)?;
                    let mut tx = self.begin().await?;
                    for graph_id in &round.delete_links {
                        sqlx::query(sql::DELETE_LINK)
                            .bind(&round.mailbox)
                            .bind(&round.resource)
                            .bind(graph_id)
                            .execute(&mut *tx)
                            .await
                            .map_err(|e| sql::db_error(loc, "links", "delete a link", e))?;
                    }
                    for link in &round.upsert_links {
                        Self::upsert_link(&mut *tx, loc, link).await?;
                    }
                    if let Some((scope, value)) = &round.cursor {
                        Self::upsert_cursor(
                            &mut *tx,
                            loc,
                            &round.mailbox,
                            &round.resource,
                            scope,
                            value,
                        )
                        .await?;
                    }
                    Self::insert_audit(&mut *tx, loc, &round.audit).await?;
                    tx.commit()
                        .await
                        .map_err(|e| sql::db_error(loc, "links", "commit a round", e))
                })
            }

            fn close(&self) -> ::futures::future::BoxFuture<'_, ()> {
                Box::pin(self.pool.close())
            }
        }
    };
}

pub(crate) use impl_state_store;

/// The write helpers `impl_state_store!` calls inside a transaction, expanded for a connection type.
macro_rules! impl_write_helpers {
    ($store:ty, $conn:ty) => {
        impl $store {
            async fn upsert_link(
                conn: &mut $conn,
                loc: &str,
                link: &$crate::state::Link,
            ) -> Result<(), $crate::state::StateError> {
                use $crate::state::sql;
                sqlx::query(sql::UPSERT_LINK)
                    .bind(&link.mailbox)
                    .bind(&link.resource)
                    .bind(&link.graph_id)
                    .bind(&link.correlation_key)
                    .bind(&link.change_key)
                    .bind(&link.crm_table)
                    .bind(&link.crm_id)
                    .bind(&link.graph_hash)
                    .bind(&link.crm_hash)
                    .bind(&link.mapping_version)
                    .bind(sql::millis(link.updated_at))
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| {
                        sql::db_error(
                            loc,
                            "links",
                            &format!(
                                "write the link of graph id `{}` to crm record `{}:{}`",
                                link.graph_id, link.crm_table, link.crm_id
                            ),
                            e,
                        )
                    })?;
                Ok(())
            }

            async fn upsert_cursor(
                conn: &mut $conn,
                loc: &str,
                mailbox: &str,
                resource: &str,
                scope: &str,
                value: &str,
            ) -> Result<(), $crate::state::StateError> {
                use $crate::state::sql;
                sqlx::query(sql::UPSERT_CURSOR)
                    .bind(mailbox)
                    .bind(resource)
                    .bind(scope)
                    .bind(value)
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| sql::db_error(loc, "cursors", "write a cursor", e))?;
                Ok(())
            }

            async fn insert_audit(
                conn: &mut $conn,
                loc: &str,
                entries: &[$crate::state::AuditEntry],
            ) -> Result<(), $crate::state::StateError> {
                use $crate::state::sql;
                for entry in entries {
                    sqlx::query(sql::INSERT_AUDIT)
                        .bind(sql::millis(entry.time))
                        .bind(&entry.mailbox)
                        .bind(&entry.resource)
                        .bind(&entry.direction)
                        .bind(&entry.action)
                        .bind(&entry.graph_id)
                        .bind(&entry.crm_id)
                        .bind(&entry.mapping_version)
                        .bind(&entry.before_hash)
                        .bind(&entry.after_hash)
                        .execute(&mut *conn)
                        .await
                        .map_err(|e| sql::db_error(loc, "audit_log", "append audit entries", e))?;
                }
                Ok(())
            }
        }
    };
}

pub(crate) use impl_write_helpers;
