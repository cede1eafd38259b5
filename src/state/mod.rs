//! The state store: what the sync engine remembers between rounds (links, delta cursors, mailbox status,
//! the write journal and the audit log), behind one [`StateStore`] trait with a SQLite and a PostgreSQL
//! backend that pass the same contract suite (`tests/it/state_contract.rs`).

mod location;
mod postgres;
mod sql;
mod sqlite;
mod store_impl;

use std::fmt;

use futures::future::BoxFuture;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

pub use location::{StateLocation, open};
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// Where the sync engine keeps its memory.
///
/// # Contract
///
/// Every backend passes `tests/it/state_contract.rs`; that suite is the executable form of this text.
///
/// - **Keys.** State is keyed by the mailbox's Entra user object id (never its address, which can change)
///   and the resource (`event`, `message`, `task`, `contact`, `absence`). Every row a mailbox owns carries
///   the mailbox, so one database can serve several connector instances.
/// - **Unique.** A [`Link`] is unique on (mailbox, resource, graph id) *and* on (mailbox, resource, CRM
///   table, CRM id): one Graph item links to one CRM record per mailbox and the other way round. A write
///   that would break either fails with [`StateErrorKind::Conflict`] and changes nothing. The same CRM
///   record may be linked from several mailboxes (one meeting seen by several attendees). Cursors are
///   unique on (mailbox, resource, scope), status on mailbox; journal entries and audit entries get
///   store-assigned ids.
/// - **Atomic.** Every method is one transaction: it happens entirely or not at all. [`commit_round`]
///   applies a round's link upserts and deletions, its cursor and its audit entries in **one**
///   transaction, so a crash or an error never leaves a cursor ahead of the links it covers.
/// - **Concurrent.** The store is `Send + Sync` and may be called from many tasks at once; concurrent
///   writes are serialised by the database, never lost. Callers keep one round per (mailbox, resource)
///   at a time (the runner's job, not the store's).
/// - **Durable.** What a method returned `Ok` for survives a crash of the process (SQLite in WAL mode,
///   PostgreSQL commits). An interrupted call leaves no trace. The write journal bridges the gap between
///   the store and the services: [`begin_write`] is recorded *before* a write to Graph or the CRM,
///   [`resolve_write`] after it, and after a crash [`pending_writes`] lists exactly the writes whose
///   outcome is unknown, so a rerun can finish each of them once (by its match key).
/// - **No clock.** Every time is passed in by the caller; the store never reads the clock. Times are kept
///   with millisecond precision.
/// - **No content.** The store holds ids and content hashes, never item or record content.
///
/// [`commit_round`]: StateStore::commit_round
/// [`begin_write`]: StateStore::begin_write
/// [`resolve_write`]: StateStore::resolve_write
/// [`pending_writes`]: StateStore::pending_writes
pub trait StateStore: Send + Sync {
    /// Where this store lives, for messages (a PostgreSQL password is masked).
    fn location(&self) -> String;

    /// The link of one Graph item, if any.
    fn get_link<'a>(
        &'a self,
        mailbox: &'a str,
        resource: &'a str,
        graph_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Link>, StateError>>;

    /// The link of one CRM record in one mailbox, if any.
    fn link_by_crm<'a>(
        &'a self,
        mailbox: &'a str,
        resource: &'a str,
        crm: &'a CrmRef,
    ) -> BoxFuture<'a, Result<Option<Link>, StateError>>;

    /// Every link to one CRM record, across mailboxes and resources, ordered by mailbox.
    fn links_by_crm<'a>(&'a self, crm: &'a CrmRef) -> BoxFuture<'a, Result<Vec<Link>, StateError>>;

    /// Every link of a resource whose correlation key (`iCalUId`, `internetMessageId`) is `key`, across
    /// mailboxes, ordered by mailbox.
    fn links_by_correlation<'a>(
        &'a self,
        resource: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Link>, StateError>>;

    /// Every link of one mailbox and resource, ordered by graph id.
    fn list_links<'a>(
        &'a self,
        mailbox: &'a str,
        resource: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Link>, StateError>>;

    /// How many links one mailbox and resource has (the mass-delete guard's denominator).
    fn count_links<'a>(
        &'a self,
        mailbox: &'a str,
        resource: &'a str,
    ) -> BoxFuture<'a, Result<u64, StateError>>;

    /// Inserts or replaces the link of `link.graph_id`; a CRM record already linked to another Graph item
    /// of the same mailbox and resource is a [`StateErrorKind::Conflict`].
    fn put_link<'a>(&'a self, link: &'a Link) -> BoxFuture<'a, Result<(), StateError>>;

    /// Removes the link of one Graph item; false when there was none.
    fn delete_link<'a>(
        &'a self,
        mailbox: &'a str,
        resource: &'a str,
        graph_id: &'a str,
    ) -> BoxFuture<'a, Result<bool, StateError>>;

    /// The delta cursor of one scope (a folder id or a window), if any.
    fn get_cursor<'a>(
        &'a self,
        mailbox: &'a str,
        resource: &'a str,
        scope: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, StateError>>;

    /// Every cursor of one mailbox and resource as (scope, value), ordered by scope.
    fn list_cursors<'a>(
        &'a self,
        mailbox: &'a str,
        resource: &'a str,
    ) -> BoxFuture<'a, Result<Vec<(String, String)>, StateError>>;

    /// Sets the cursor of one scope.
    fn put_cursor<'a>(
        &'a self,
        mailbox: &'a str,
        resource: &'a str,
        scope: &'a str,
        value: &'a str,
    ) -> BoxFuture<'a, Result<(), StateError>>;

    /// Removes the cursor of one scope; false when there was none.
    fn delete_cursor<'a>(
        &'a self,
        mailbox: &'a str,
        resource: &'a str,
        scope: &'a str,
    ) -> BoxFuture<'a, Result<bool, StateError>>;

    /// Forgets every cursor of a mailbox (of one resource, or of all), so the next round is a full one;
    /// returns how many were removed. Links stay: a resync links instead of duplicating.
    fn forget_cursors<'a>(
        &'a self,
        mailbox: &'a str,
        resource: Option<&'a str>,
    ) -> BoxFuture<'a, Result<u64, StateError>>;

    /// Inserts or replaces the status of `status.mailbox`.
    fn put_status<'a>(&'a self, status: &'a MailboxStatus)
    -> BoxFuture<'a, Result<(), StateError>>;

    /// The status of one mailbox, if any.
    fn get_status<'a>(
        &'a self,
        mailbox: &'a str,
    ) -> BoxFuture<'a, Result<Option<MailboxStatus>, StateError>>;

    /// Every mailbox's status, ordered by mailbox.
    fn list_status(&self) -> BoxFuture<'_, Result<Vec<MailboxStatus>, StateError>>;

    /// Records the intent of a write to Graph or the CRM **before** it is sent.
    fn begin_write<'a>(
        &'a self,
        entry: &'a JournalEntry,
    ) -> BoxFuture<'a, Result<WriteId, StateError>>;

    /// Records the outcome of a write begun with [`StateStore::begin_write`]. An unknown id is
    /// [`StateErrorKind::NotFound`], an id already resolved [`StateErrorKind::AlreadyResolved`].
    fn resolve_write<'a>(
        &'a self,
        id: WriteId,
        outcome: &'a Outcome,
    ) -> BoxFuture<'a, Result<(), StateError>>;

    /// The writes of one mailbox begun and never resolved (interrupted by a crash), oldest first.
    fn pending_writes<'a>(
        &'a self,
        mailbox: &'a str,
    ) -> BoxFuture<'a, Result<Vec<PendingWrite>, StateError>>;

    /// Appends entries to the audit log, all or none.
    fn append_audit<'a>(
        &'a self,
        entries: &'a [AuditEntry],
    ) -> BoxFuture<'a, Result<(), StateError>>;

    /// The newest `limit` audit entries (of one mailbox, or of all), newest first.
    fn audit<'a>(
        &'a self,
        mailbox: Option<&'a str>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<AuditEntry>, StateError>>;

    /// Applies one round in one transaction: link deletions, then link upserts, then the cursor, then the
    /// audit entries. Every link and audit entry must belong to the round's mailbox (and links to its
    /// resource), else [`StateErrorKind::InvalidInput`]; any failure leaves the store as it was.
    fn commit_round<'a>(&'a self, round: &'a RoundCommit) -> BoxFuture<'a, Result<(), StateError>>;

    /// Closes the connections (SQLite checkpoints its WAL); the store is unusable afterwards.
    fn close(&self) -> BoxFuture<'_, ()>;
}

/// A Graph item linked to a CRM record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// Entra user object id of the mailbox.
    pub mailbox: String,
    /// `event`, `message`, `task`, `contact` or `absence`.
    pub resource: String,
    /// The Graph immutable id.
    pub graph_id: String,
    /// `iCalUId` (events) or `internetMessageId` (messages): ties copies in several mailboxes together.
    pub correlation_key: Option<String>,
    /// The Graph change key at the last sync.
    pub change_key: Option<String>,
    pub crm_table: String,
    pub crm_id: String,
    /// Hex content hash of the mapped Graph side at the last sync.
    pub graph_hash: String,
    /// Hex content hash of the mapped CRM side at the last sync.
    pub crm_hash: String,
    /// Version of the mapping that produced the hashes.
    pub mapping_version: String,
    pub updated_at: Timestamp,
    /// This copy writes the record's fields; `false`: it only adds its rep as participant (one meeting
    /// seen in several mailboxes).
    pub authoritative: bool,
    /// The record is ConnectorPublished (the organizer is not a synced rep): Graph → CRM only.
    pub published: bool,
    /// `graph`: the record came from (or was adopted for) the Graph item; `crm`: the connector created the
    /// Graph item from the record.
    pub origin: String,
}

impl Link {
    pub fn crm(&self) -> CrmRef {
        CrmRef {
            table: self.crm_table.clone(),
            id: self.crm_id.clone(),
        }
    }
}

/// One CRM record: its table (info area) and id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CrmRef {
    pub table: String,
    pub id: String,
}

impl fmt::Display for CrmRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.table, self.id)
    }
}

/// The last outcome of one mailbox.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MailboxStatus {
    /// Entra user object id.
    pub mailbox: String,
    /// The SMTP address, for people reading the status.
    pub address: String,
    pub last_success: Option<Timestamp>,
    pub last_error_at: Option<Timestamp>,
    pub last_error: Option<String>,
    /// The one-line fix of `last_error`.
    pub last_fix: Option<String>,
    /// Counts of the last cycle, as the runner reports them (any JSON value; stored as JSON text).
    pub counts: serde_json::Value,
    /// When a cycle found the mailbox's user deleted from the tenant (`None` while it exists). A retired
    /// mailbox is not synced; its links stay until `graph-connector retired --clean-up`.
    #[serde(default)]
    pub retired_at: Option<Timestamp>,
}

/// The intent of one write, recorded before it is sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    pub mailbox: String,
    pub resource: String,
    /// `graph_to_crm` or `crm_to_graph`.
    pub direction: String,
    /// `create`, `update`, `delete`, …
    pub action: String,
    /// The Graph id or the CRM record (`TABLE:ID`) written to; none for a create.
    pub target: Option<String>,
    /// How a retry finds the result of a write whose answer was lost: our stamp or the correlation key.
    pub match_key: String,
    /// Hex hash of the payload sent.
    pub payload_hash: String,
    pub started_at: Timestamp,
}

/// Store-assigned id of a journal entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct WriteId(pub i64);

impl fmt::Display for WriteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// How a journalled write ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteStatus {
    Ok,
    Failed,
}

impl WriteStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            WriteStatus::Ok => "ok",
            WriteStatus::Failed => "failed",
        }
    }
}

/// The outcome of a journalled write.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub status: WriteStatus,
    /// The id the write produced or touched (a created record's id).
    pub result_id: Option<String>,
    /// Why it failed, one line.
    pub detail: Option<String>,
    pub resolved_at: Timestamp,
}

/// A write begun and never resolved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingWrite {
    pub id: WriteId,
    pub entry: JournalEntry,
}

/// One change, as the audit log keeps it: ids and hashes, never content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub time: Timestamp,
    pub mailbox: String,
    pub resource: String,
    /// `graph_to_crm` or `crm_to_graph`.
    pub direction: String,
    pub action: String,
    pub graph_id: Option<String>,
    /// The CRM record as `TABLE:ID`.
    pub crm_id: Option<String>,
    pub mapping_version: String,
    pub before_hash: Option<String>,
    pub after_hash: Option<String>,
}

/// Everything one round of one mailbox and resource leaves behind, committed at once.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundCommit {
    pub mailbox: String,
    pub resource: String,
    pub upsert_links: Vec<Link>,
    /// Graph ids whose links go.
    pub delete_links: Vec<String>,
    /// The new delta cursor as (scope, value).
    pub cursor: Option<(String, String)>,
    pub audit: Vec<AuditEntry>,
}

/// What went wrong, for callers that react differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateErrorKind {
    /// The store cannot be opened or reached (missing directory, refused connection, bad URL).
    Open,
    /// The database has a schema version this binary does not know.
    SchemaTooNew,
    /// Applying a migration failed.
    Migrate,
    /// A uniqueness rule would be broken.
    Conflict,
    /// The row asked for does not exist.
    NotFound,
    /// The journal entry was already resolved.
    AlreadyResolved,
    /// The caller passed inconsistent data.
    InvalidInput,
    /// A stored value cannot be read back.
    Corrupt,
    /// Any other database failure.
    Backend,
}

/// An error of the state store: its kind, a lowercase message naming the location and the table, and the
/// database error underneath (if any).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct StateError {
    kind: StateErrorKind,
    message: String,
    #[source]
    source: Option<sqlx::Error>,
}

impl StateError {
    pub fn new(kind: StateErrorKind, message: impl Into<String>) -> StateError {
        StateError {
            kind,
            message: message.into(),
            source: None,
        }
    }

    pub fn with_source(mut self, source: sqlx::Error) -> StateError {
        self.source = Some(source);
        self
    }

    pub fn kind(&self) -> StateErrorKind {
        self.kind
    }
}
