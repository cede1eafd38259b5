//! What both SQL backends share, so they cannot drift apart: the statements (written in the SQL that
//! SQLite and PostgreSQL both accept: `$N` parameters, `ON CONFLICT … DO UPDATE`, `RETURNING`), row
//! decoding and error mapping. `store_impl.rs` runs them.
//!
//! Times are stored as integer milliseconds since the Unix epoch (UTC).

use jiff::Timestamp;
use sqlx::{ColumnIndex, Decode, Row, Type};

use super::{
    AuditEntry, JournalEntry, Link, MailboxStatus, PendingWrite, RoundCommit, StateError,
    StateErrorKind, WriteId,
};

pub const GET_LINK: &str = "SELECT mailbox, resource, graph_id, correlation_key, change_key, crm_table, crm_id, graph_hash, crm_hash, mapping_version, updated_at, authoritative, published, origin \
     FROM links WHERE mailbox = $1 AND resource = $2 AND graph_id = $3";
pub const LINK_BY_CRM: &str = "SELECT mailbox, resource, graph_id, correlation_key, change_key, crm_table, crm_id, graph_hash, crm_hash, mapping_version, updated_at, authoritative, published, origin \
     FROM links WHERE mailbox = $1 AND resource = $2 AND crm_table = $3 AND crm_id = $4";
pub const LINKS_BY_CRM: &str = "SELECT mailbox, resource, graph_id, correlation_key, change_key, crm_table, crm_id, graph_hash, crm_hash, mapping_version, updated_at, authoritative, published, origin \
     FROM links WHERE crm_table = $1 AND crm_id = $2 ORDER BY mailbox, resource, graph_id";
pub const LINKS_BY_CORRELATION: &str = "SELECT mailbox, resource, graph_id, correlation_key, change_key, crm_table, crm_id, graph_hash, crm_hash, mapping_version, updated_at, authoritative, published, origin \
     FROM links WHERE resource = $1 AND correlation_key = $2 ORDER BY mailbox, graph_id";
pub const LIST_LINKS: &str = "SELECT mailbox, resource, graph_id, correlation_key, change_key, crm_table, crm_id, graph_hash, crm_hash, mapping_version, updated_at, authoritative, published, origin \
     FROM links WHERE mailbox = $1 AND resource = $2 ORDER BY graph_id";
pub const COUNT_LINKS: &str = "SELECT COUNT(*) FROM links WHERE mailbox = $1 AND resource = $2";
pub const UPSERT_LINK: &str = "INSERT INTO links (mailbox, resource, graph_id, correlation_key, change_key, crm_table, crm_id, graph_hash, crm_hash, mapping_version, updated_at, authoritative, published, origin) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
     ON CONFLICT (mailbox, resource, graph_id) DO UPDATE SET correlation_key = excluded.correlation_key, \
     change_key = excluded.change_key, crm_table = excluded.crm_table, crm_id = excluded.crm_id, \
     graph_hash = excluded.graph_hash, crm_hash = excluded.crm_hash, \
     mapping_version = excluded.mapping_version, updated_at = excluded.updated_at, \
     authoritative = excluded.authoritative, published = excluded.published, origin = excluded.origin";
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

pub const UPSERT_STATUS: &str = "INSERT INTO mailbox_status (mailbox, address, last_success, last_error_at, last_error, last_fix, counts, retired_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
     ON CONFLICT (mailbox) DO UPDATE SET address = excluded.address, last_success = excluded.last_success, \
     last_error_at = excluded.last_error_at, last_error = excluded.last_error, \
     last_fix = excluded.last_fix, counts = excluded.counts, retired_at = excluded.retired_at";
pub const GET_STATUS: &str = "SELECT mailbox, address, last_success, last_error_at, last_error, last_fix, counts, retired_at \
     FROM mailbox_status WHERE mailbox = $1";
pub const LIST_STATUS: &str = "SELECT mailbox, address, last_success, last_error_at, last_error, last_fix, counts, retired_at \
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

/// A 0/1 column of `links` (INTEGER in SQLite, BIGINT in PostgreSQL).
fn flag<R>(row: &R, column: &str, location: &str) -> Result<bool, StateError>
where
    R: Row,
    for<'s> &'s str: ColumnIndex<R>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
{
    let value: i64 = get(row, column, location, "links")?;
    Ok(value != 0)
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
        authoritative: flag(row, "authoritative", location)?,
        published: flag(row, "published", location)?,
        origin: get(row, "origin", location, t)?,
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
        retired_at: opt_time(
            get(row, "retired_at", location, t)?,
            "retired_at",
            location,
            t,
        )?,
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
