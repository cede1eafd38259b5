//! `GraphTransport`: the engine's only view of Microsoft Graph, and its implementations.
//!
//! The trait speaks in mailbox items (events, messages, contacts, To Do tasks) and delta rounds; the
//! HTTP client (`GraphClient`) implements it against Graph v1.0 app-only. Module map: `types` (serde
//! shapes of Graph payloads), `error` (one-line diagnoses), `auth` (tokens), `throttle` (per-mailbox
//! cap, retry policy, clock), `http` (one request), `delta` (pages and rounds), `batch` (`$batch`),
//! `encode` (pure URLs and bodies), `client` (the operations).

pub mod auth;
pub mod batch;
pub mod client;
pub mod delta;
pub mod encode;
pub mod error;
pub mod http;
pub mod throttle;
pub mod types;

use futures::future::BoxFuture;
use jiff::Timestamp;
use serde_json::Value;

pub use graph_connector_core::directory::{MailboxState, MailboxUser, TimeZoneSource};

use self::types::{Contact, ContactFolder, Event, MailFolder, Message, TodoTask, TodoTaskList};
pub use self::{
    client::GraphClient,
    delta::{DeltaRound, RoundKind, RoundOutcome, run_round},
    error::{ApiError, GraphError, TokenError, TokenErrorKind, diagnose},
    http::GraphClientConfig,
};

/// The fixed GUID of the named property that carries the CRM record id on events, messages and contacts.
pub const CRM_STAMP_GUID: &str = "5f6c2b1a-8d3e-4c7f-9a2b-3e4d5c6b7a81";
/// The one single-value extended property id used for the CRM stamp (never vary it: named properties
/// consume a per-mailbox quota).
pub const CRM_STAMP_PROPERTY_ID: &str =
    "String {5f6c2b1a-8d3e-4c7f-9a2b-3e4d5c6b7a81} Name CrmRecordId";
/// `linkedResources[].applicationName` of the To Do stamp.
pub const CRM_STAMP_APPLICATION: &str = "graph-connector";

/// `DeltaChange::Removed` reason of a calendar item that still exists but left the window.
pub const REMOVED_OUTSIDE_WINDOW: &str = "outsideWindow";

/// The four kinds of mailbox items the connector syncs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ItemKind {
    Event,
    Message,
    Contact,
    Task,
}

impl ItemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Event => "event",
            ItemKind::Message => "message",
            ItemKind::Contact => "contact",
            ItemKind::Task => "todoTask",
        }
    }
}

/// One mailbox item as Graph returned it.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Event(Box<Event>),
    Message(Box<Message>),
    Contact(Box<Contact>),
    Task(Box<TodoTask>),
}

impl Item {
    pub fn kind(&self) -> ItemKind {
        match self {
            Item::Event(_) => ItemKind::Event,
            Item::Message(_) => ItemKind::Message,
            Item::Contact(_) => ItemKind::Contact,
            Item::Task(_) => ItemKind::Task,
        }
    }

    /// The (immutable) id; empty only for payloads Graph never sends to this client.
    pub fn id(&self) -> &str {
        let id = match self {
            Item::Event(e) => &e.id,
            Item::Message(m) => &m.id,
            Item::Contact(c) => &c.id,
            Item::Task(t) => &t.id,
        };
        id.as_deref().unwrap_or("")
    }

    /// `@odata.etag` (`W/"<changeKey>"`), what `If-Match` wants.
    pub fn etag(&self) -> Option<&str> {
        match self {
            Item::Event(e) => e.etag.as_deref(),
            Item::Message(m) => m.etag.as_deref(),
            Item::Contact(c) => c.etag.as_deref(),
            Item::Task(t) => t.etag.as_deref(),
        }
    }

    /// The CRM record id stamped on the item, when it was read with the stamp expanded.
    pub fn crm_stamp(&self) -> Option<&str> {
        let props = match self {
            Item::Event(e) => e.single_value_extended_properties.as_ref(),
            Item::Message(m) => m.single_value_extended_properties.as_ref(),
            Item::Contact(c) => c.single_value_extended_properties.as_ref(),
            Item::Task(t) => {
                return t
                    .linked_resources
                    .iter()
                    .flatten()
                    .find(|r| r.application_name.as_deref() == Some(CRM_STAMP_APPLICATION))
                    .and_then(|r| r.external_id.as_deref());
            }
        };
        props?
            .iter()
            .find(|p| p.id.eq_ignore_ascii_case(CRM_STAMP_PROPERTY_ID))
            .and_then(|p| p.value.as_deref())
    }

    /// The item as Graph JSON (for mappings).
    pub fn to_json(&self) -> Value {
        let v = match self {
            Item::Event(e) => serde_json::to_value(e),
            Item::Message(m) => serde_json::to_value(m),
            Item::Contact(c) => serde_json::to_value(c),
            Item::Task(t) => serde_json::to_value(t),
        };
        v.unwrap_or(Value::Null)
    }

    /// Parses Graph JSON of `kind`.
    pub fn from_json(kind: ItemKind, v: Value) -> Result<Item, serde_json::Error> {
        Ok(match kind {
            ItemKind::Event => Item::Event(Box::new(serde_json::from_value(v)?)),
            ItemKind::Message => Item::Message(Box::new(serde_json::from_value(v)?)),
            ItemKind::Contact => Item::Contact(Box::new(serde_json::from_value(v)?)),
            ItemKind::Task => Item::Task(Box::new(serde_json::from_value(v)?)),
        })
    }
}

/// Where an item lives: the mailbox, its kind and id, and the To Do list for tasks.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ItemRef {
    /// User object id (GUID) or UPN; use one form per mailbox consistently (the concurrency cap keys on it).
    pub mailbox: String,
    pub kind: ItemKind,
    pub id: String,
    /// The To Do list id (required for tasks, ignored otherwise).
    pub list_id: Option<String>,
}

/// Where a new item goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTarget {
    pub mailbox: String,
    pub kind: ItemKind,
    /// The To Do list (required for tasks); a contact folder for contacts (default folder when `None`);
    /// a mail folder for messages (created as drafts, Graph's rule).
    pub container: Option<String>,
}

/// Options of a create.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateOptions {
    /// The CRM record id to stamp in the same request (and to look the item up by after an ambiguous failure).
    pub crm_stamp: Option<String>,
    /// `transactionId` of an event create; generated (once per call) when `None`. Pass a value derived from
    /// the CRM record to stay idempotent across process restarts.
    pub transaction_id: Option<String>,
}

/// One item of [`GraphTransport::create_items`].
#[derive(Debug, Clone, PartialEq)]
pub struct NewItem {
    pub target: CreateTarget,
    pub body: Value,
    pub options: CreateOptions,
}

/// Result of an update.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateOutcome {
    /// The item after the update.
    pub item: Item,
    /// How many 412 conflicts were resolved by re-reading and re-applying the patch.
    pub conflicts_resolved: u32,
}

/// Which items a delta round covers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DeltaResource {
    /// Messages of one mail folder (`inbox`, `sentitems`, or a folder id).
    Messages { folder: String },
    /// Events of the primary calendar in a window (frozen in the delta token; ≤ 1,825 days).
    Events { start: Timestamp, end: Timestamp },
    /// Contacts of one contact folder.
    Contacts { folder: String },
    /// Tasks of one To Do list.
    Tasks { list: String },
}

impl DeltaResource {
    pub fn kind(&self) -> ItemKind {
        match self {
            DeltaResource::Messages { .. } => ItemKind::Message,
            DeltaResource::Events { .. } => ItemKind::Event,
            DeltaResource::Contacts { .. } => ItemKind::Contact,
            DeltaResource::Tasks { .. } => ItemKind::Task,
        }
    }
}

/// A delta round's subject: one resource of one mailbox.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeltaScope {
    pub mailbox: String,
    pub resource: DeltaResource,
}

/// Where to read the next delta page from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeltaCursor {
    /// A new full round (first sync, or after the state was lost).
    Start,
    /// The `@odata.nextLink` of the previous page of this round.
    Next(String),
    /// The `@odata.deltaLink` persisted after the previous round.
    Resume(String),
}

/// One change in a delta page.
#[derive(Debug, Clone, PartialEq)]
pub enum DeltaChange {
    /// Created or updated (may repeat within and across rounds; merge idempotently by id). Calendar
    /// occurrences are sparse (`id`, `type`, `seriesMasterId`, `start`, `end`): read the master for the rest.
    Upsert(Item),
    /// `@removed`: deleted or moved out of the folder/list (`reason` as Graph says, usually `deleted`), or
    /// for calendars `REMOVED_OUTSIDE_WINDOW` when the event still exists but is no longer in the window
    /// (the client checks): such an event was not deleted and its CRM record must stay.
    Removed { id: String, reason: String },
}

/// What follows a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeltaNext {
    /// More pages: read `DeltaCursor::Next(link)`.
    More(String),
    /// The round is complete: persist this delta link and resume from it next time.
    Done(String),
}

/// Why a round had to restart from scratch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restart {
    /// `SyncStateNotFound`, `resyncRequired`…
    pub code: String,
    pub message: String,
}

/// One page of a delta round.
#[derive(Debug, Clone, PartialEq)]
pub struct DeltaPage {
    pub changes: Vec<DeltaChange>,
    pub next: DeltaNext,
    /// Set when the given cursor was no longer valid (410): this page is the first of a new full round and
    /// everything read before it in this round must be discarded.
    pub restarted: Option<Restart>,
}

/// What one round of the mail folder delta (`/mailFolders/delta`) said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderChanges {
    /// The round listed at least one folder (created, changed, moved or removed). A full round
    /// lists every folder, so it is always `changed` unless the mailbox has none.
    pub changed: bool,
    /// A full round: there was no delta link, or it had expired (410) and the round restarted.
    pub full: bool,
    /// The `@odata.deltaLink` to resume from next time (persist it only with what it covered).
    pub delta_link: String,
}

/// Well-known mail folders the connector never reads, nor anything under them, even when they
/// show up inside a configured folder: junk, deleted, unsent and unsendable mail.
pub const NEVER_READ_MAIL_FOLDERS: [&str; 4] = ["junkemail", "deleteditems", "drafts", "outbox"];

/// `list_mailbox_users` result: users plus warnings worth showing an admin once.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserListing {
    pub users: Vec<MailboxUser>,
    pub warnings: Vec<String>,
}

/// Which items `find_by_stamp` searches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StampScope {
    pub mailbox: String,
    pub kind: ItemKind,
    /// The To Do list (required for tasks); ignored otherwise (events, messages and contacts are searched
    /// mailbox-wide).
    pub list_id: Option<String>,
}

/// An Exchange item id form (`translateExchangeIds`' `sourceIdType` / `targetIdType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExchangeIdType {
    /// EWS `ItemId` (standard base64), what earlier connectors kept.
    EwsId,
    /// MAPI `PR_ENTRYID`, hex.
    EntryId,
    /// MAPI immutable entry id, hex.
    ImmutableEntryId,
    /// Graph id (changes when the item moves folder).
    RestId,
    /// Graph immutable id: what this connector uses.
    RestImmutableEntryId,
}

impl ExchangeIdType {
    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ExchangeIdType::EwsId => "ewsId",
            ExchangeIdType::EntryId => "entryId",
            ExchangeIdType::ImmutableEntryId => "immutableEntryId",
            ExchangeIdType::RestId => "restId",
            ExchangeIdType::RestImmutableEntryId => "restImmutableEntryId",
        }
    }
}

/// Most ids one `translateExchangeIds` request takes.
pub const TRANSLATE_IDS_PER_REQUEST: usize = 1000;

/// The connector's window on Microsoft Graph.
///
/// Contract:
/// - **At-least-once, idempotent writes.** A call may be retried (by the implementation after throttling or
///   transient failures, or by the caller after a crash). Event creates carry a `transactionId`, so a
///   retried create returns the first event; other creates carry the CRM stamp, and after an ambiguous
///   failure the implementation looks the item up by its stamp before creating again. Updates send
///   `If-Match` when given an etag; a 412 is resolved by re-reading and re-applying the patch (the patch's
///   fields win, others keep the server's values). Deleting an item that is already gone succeeds.
/// - **Concurrency.** Methods may be called concurrently from many tasks. The implementation keeps at most
///   4 requests in flight per mailbox across the whole process, and waits out `Retry-After`.
/// - **Delta rounds.** A round starts with `DeltaCursor::Start` (or `Resume(delta link)`), follows
///   `DeltaNext::More` until `DeltaNext::Done(delta link)`, which the caller persists only after it has
///   applied every page. Changes may repeat and come in any order. If a cursor is stale (410
///   `SyncStateNotFound` / `resyncRequired`) the implementation restarts a full round transparently and
///   flags the page (`restarted`); the caller must not infer deletions ("not seen in this round") until a
///   full round has completed.
/// - **Scopes.** A `Removed` means "no longer in this scope" (folder, list or window): with immutable ids a
///   message moved to another synced folder keeps its id and shows up as an upsert in that folder's round,
///   so track membership per scope and delete only what no scope holds. A To Do task moved to another list
///   gets a new id (find it again by its stamp).
/// - **Ids** are immutable ids (`Prefer: IdType="ImmutableId"` on every call); times come in the configured
///   `outlook.timezone`.
/// - Errors are `GraphError`s whose `Display` is one line with the fix (`diagnose`).
pub trait GraphTransport: Send + Sync {
    /// Cheap readiness probe: a token (credentials, tenant, consent) and, given a mailbox, its inbox
    /// (mailbox exists, permission granted, not excluded by an access policy).
    fn health_check<'a>(
        &'a self,
        mailbox: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), GraphError>>;

    /// Users whose mail or UPN is in one of `domains`, each with a mailbox probe and its time zone. When
    /// mailboxSettings is refused (403) the inbox is probed instead and the configured default time zone
    /// used, with a warning that MailboxSettings.Read is missing.
    fn list_mailbox_users<'a>(
        &'a self,
        domains: &'a [String],
    ) -> BoxFuture<'a, Result<UserListing, GraphError>>;

    /// The mailbox's To Do lists.
    fn todo_lists<'a>(
        &'a self,
        mailbox: &'a str,
    ) -> BoxFuture<'a, Result<Vec<TodoTaskList>, GraphError>>;

    /// The id of the mailbox's default contact folder, learned from a contact's or a child folder's
    /// `parentFolderId` (`None` when the mailbox has neither).
    fn default_contact_folder<'a>(
        &'a self,
        mailbox: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, GraphError>>;

    /// The contact folders to sync: the default folder first (when it can be learned), then the folders
    /// Graph lists under it.
    fn contact_folders<'a>(
        &'a self,
        mailbox: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ContactFolder>, GraphError>>;

    /// The mail folder `folder` (a well-known name such as `inbox`, or an id) and every folder under
    /// it, depth first, parents before their children, each with its `parentFolderId`; `folder`
    /// itself comes first, under its real id. Folders listed in [`NEVER_READ_MAIL_FOLDERS`] are left
    /// out with everything under them, wherever they are. A subfolder that vanishes while the tree
    /// is read is left out; `folder` itself missing is an error (404). Reads only (safe to retry);
    /// costs one request for `folder`, one per folder that has children, and a few to learn the
    /// ids of the never-read folders when there is any subfolder.
    fn mail_folder_tree<'a>(
        &'a self,
        mailbox: &'a str,
        folder: &'a str,
    ) -> BoxFuture<'a, Result<Vec<MailFolder>, GraphError>>;

    /// One whole round of the mailbox's folder delta (`/mailFolders/delta`, every folder of the
    /// mailbox): from `delta_link` when given, else a full round. A stale link (410) restarts a full
    /// round transparently (`full`). Says only whether any folder changed: the caller re-reads the
    /// trees it cares about with [`GraphTransport::mail_folder_tree`]. Reads only.
    ///
    /// [`GraphTransport::mail_folder_tree`]: GraphTransport::mail_folder_tree
    fn mail_folder_changes<'a>(
        &'a self,
        mailbox: &'a str,
        delta_link: Option<&'a str>,
    ) -> BoxFuture<'a, Result<FolderChanges, GraphError>>;

    /// Creates a contact folder named `name` under the default contact folder (`POST
    /// /contactFolders`). Idempotent by name: when a folder of that name is already there (Graph
    /// answers 409 `ErrorFolderExists`, also after a retried create whose first answer was lost),
    /// that folder is returned; so callers that look a folder up by name before creating it never
    /// get two.
    fn create_contact_folder<'a>(
        &'a self,
        mailbox: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<ContactFolder, GraphError>>;

    /// One page of a delta round (see the trait contract).
    fn delta_page<'a>(
        &'a self,
        scope: &'a DeltaScope,
        cursor: &'a DeltaCursor,
    ) -> BoxFuture<'a, Result<DeltaPage, GraphError>>;

    /// One item with the CRM stamp expanded; `None` when it does not exist (any more). For a calendar
    /// occurrence, read its `seriesMasterId` to get the series master.
    fn get_item<'a>(&'a self, item: &'a ItemRef)
    -> BoxFuture<'a, Result<Option<Item>, GraphError>>;

    /// Creates an event, contact, To Do task (or a draft message) from Graph JSON.
    fn create_item<'a>(
        &'a self,
        target: &'a CreateTarget,
        body: &'a Value,
        options: &'a CreateOptions,
    ) -> BoxFuture<'a, Result<Item, GraphError>>;

    /// Creates many items, one result each in order, with the same idempotency as [`create_item`]
    /// (events by `transactionId`, others looked up by stamp before a create whose outcome is unknown is
    /// sent again). Implementations may send them in few requests (`$batch`); the default sends one
    /// `create_item` after the other.
    ///
    /// [`create_item`]: GraphTransport::create_item
    fn create_items<'a>(
        &'a self,
        items: &'a [NewItem],
    ) -> BoxFuture<'a, Vec<Result<Item, GraphError>>> {
        Box::pin(async move {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                out.push(
                    self.create_item(&item.target, &item.body, &item.options)
                        .await,
                );
            }
            out
        })
    }

    /// PATCHes an item (for received messages only `isRead`, `categories`, `flag`, `importance`…).
    fn update_item<'a>(
        &'a self,
        item: &'a ItemRef,
        patch: &'a Value,
        if_match: Option<&'a str>,
    ) -> BoxFuture<'a, Result<UpdateOutcome, GraphError>>;

    /// Deletes an item; `Ok(false)` when it was already gone.
    fn delete_item<'a>(
        &'a self,
        item: &'a ItemRef,
        if_match: Option<&'a str>,
    ) -> BoxFuture<'a, Result<bool, GraphError>>;

    /// Stamps the CRM record id on an existing item (idempotent).
    fn stamp<'a>(
        &'a self,
        item: &'a ItemRef,
        crm_id: &'a str,
    ) -> BoxFuture<'a, Result<Item, GraphError>>;

    /// Items carrying the CRM stamp `crm_id` (normally zero or one).
    fn find_by_stamp<'a>(
        &'a self,
        scope: &'a StampScope,
        crm_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Item>, GraphError>>;

    /// Translates item ids of `mailbox` from one form to another (`translateExchangeIds`), one request
    /// per [`TRANSLATE_IDS_PER_REQUEST`] ids: one answer per input, in input order, `None` for an id that
    /// names no item of the mailbox. Reads only (safe to retry).
    fn translate_exchange_ids<'a>(
        &'a self,
        mailbox: &'a str,
        ids: &'a [String],
        from: ExchangeIdType,
        to: ExchangeIdType,
    ) -> BoxFuture<'a, Result<Vec<Option<String>>, GraphError>>;
}
