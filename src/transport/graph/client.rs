//! `GraphClient`: `GraphTransport` over Graph v1.0 with app-only (client-credentials) access.
//!
//! Each operation builds its Graph call(s) and leaves tokens, throttling, retries and error mapping to
//! `GraphHttp`. Idempotency lives here: `transactionId` on event creates, a lookup by CRM stamp before
//! re-sending other creates after an ambiguous failure, and re-read + re-apply on 412.

use std::sync::Arc;

use futures::{StreamExt, future::BoxFuture, stream};

use reqwest::Method;
use serde_json::{Value, json};

use super::{
    CRM_STAMP_APPLICATION, CreateOptions, CreateTarget, DeltaChange, DeltaCursor, DeltaPage,
    DeltaResource, DeltaScope, ExchangeIdType, FolderChanges, GraphTransport, Item, ItemKind,
    ItemRef, MailboxState, MailboxUser, REMOVED_OUTSIDE_WINDOW, Restart, StampScope,
    TRANSLATE_IDS_PER_REQUEST, TimeZoneSource, UpdateOutcome, UserListing,
    batch::{BatchMode, BatchResults},
    delta::{parse_page, start_url},
    encode,
    error::{DecodeError, GraphError, diagnose},
    http::{GraphClientConfig, GraphHttp, Request, StatsSnapshot, seg, with_query},
    throttle::{MailboxLimiter, is_ambiguous},
    types::{Collection, ContactFolder, MailFolder, MailboxSettings, TodoTask, TodoTaskList, User},
};
use crate::transport::clock::Clock;

/// How many 412 conflicts an update resolves before giving up.
const MAX_CONFLICT_RETRIES: u32 = 3;
/// How many times a non-idempotent create is re-sent after ambiguous failures.
const MAX_CREATE_RESENDS: u32 = 3;
/// Mailbox probes run in parallel (each on its own mailbox).
const PROBE_CONCURRENCY: usize = 8;

/// The Graph v1.0 client (cheap to clone; clones share tokens, limits and counters).
#[derive(Clone)]
pub struct GraphClient {
    http: Arc<GraphHttp>,
}

impl GraphClient {
    /// A client using tokio time and the process-wide per-mailbox limiter of its endpoint and app.
    pub fn new(config: GraphClientConfig) -> Result<GraphClient, GraphError> {
        Ok(GraphClient {
            http: Arc::new(GraphHttp::new(config)?),
        })
    }

    /// A client with an explicit clock and limiter.
    pub fn with_parts(
        config: GraphClientConfig,
        clock: Arc<dyn Clock>,
        limiter: MailboxLimiter,
    ) -> Result<GraphClient, GraphError> {
        Ok(GraphClient {
            http: Arc::new(GraphHttp::with_parts(config, clock, limiter)?),
        })
    }

    /// The HTTP core (raw requests, `$batch`).
    pub fn http(&self) -> &GraphHttp {
        &self.http
    }

    /// What the client did so far.
    pub fn stats(&self) -> StatsSnapshot {
        self.http.stats()
    }

    /// Gets a token now: the credentials check of a `doctor` command.
    pub async fn check_credentials(&self) -> Result<(), GraphError> {
        self.http.check_token().await
    }

    /// `$batch` of raw requests (see `batch.rs`).
    pub async fn batch(
        &self,
        requests: &[Request],
        mode: BatchMode,
    ) -> Result<BatchResults, GraphError> {
        self.http.batch(requests, mode).await
    }

    /// Follows `@odata.nextLink` from `first` and collects every item.
    async fn list_all<T: serde::de::DeserializeOwned>(
        &self,
        first: String,
        mailbox: Option<&str>,
        expected: &'static str,
    ) -> Result<Vec<T>, GraphError> {
        let mut out = Vec::new();
        let mut url = Some(first);
        while let Some(u) = url.take() {
            let page: Collection<T> = self
                .http
                .send_json(&Request::get(u, mailbox), expected)
                .await?;
            out.extend(page.value);
            url = page.next_link;
        }
        Ok(out)
    }

    async fn probe_mailbox(
        &self,
        user: &User,
        warned: &std::sync::atomic::AtomicBool,
    ) -> Result<MailboxState, GraphError> {
        let id = user.id.as_deref().unwrap_or_default();
        let settings = Request::get(
            with_query(
                &format!("/users/{}/mailboxSettings", seg(id)),
                &[("$select", "timeZone")],
            ),
            Some(id),
        );
        match self
            .http
            .send_json::<MailboxSettings>(&settings, "mailboxSettings")
            .await
        {
            Ok(s) => {
                let tz = s.time_zone.filter(|t| !t.is_empty());
                return Ok(match tz {
                    Some(time_zone) => MailboxState::Ready {
                        time_zone,
                        source: TimeZoneSource::MailboxSettings,
                    },
                    None => MailboxState::Ready {
                        time_zone: self.http.config().default_mailbox_time_zone.clone(),
                        source: TimeZoneSource::ConfiguredDefault,
                    },
                });
            }
            // MailboxNotEnabledForRESTAPI, or the user vanished since the listing (ErrorInvalidUser).
            Err(e) if e.status() == Some(404) => {
                return Ok(MailboxState::NoMailbox {
                    diagnosis: diagnose(&e),
                });
            }
            Err(e)
                if e.status() == Some(403)
                    && !e.to_string().contains("Access to OData is disabled") =>
            {
                if !warned.swap(true, std::sync::atomic::Ordering::Relaxed) {
                    tracing::warn!(error = %e, "mailboxSettings refused; probing inboxes and using the configured default time zone");
                }
            }
            Err(e) if e.status() == Some(403) => {
                return Ok(MailboxState::Denied {
                    diagnosis: diagnose(&e),
                });
            }
            Err(e) => return Err(e),
        }
        // Fallback without MailboxSettings.Read: the inbox tells whether there is a mailbox.
        let inbox = Request::get(
            with_query(
                &format!("/users/{}/mailFolders/inbox", seg(id)),
                &[("$select", "id")],
            ),
            Some(id),
        );
        match self.http.send(&inbox).await {
            Ok(_) => Ok(MailboxState::Ready {
                time_zone: self.http.config().default_mailbox_time_zone.clone(),
                source: TimeZoneSource::ConfiguredDefault,
            }),
            Err(e) if e.status() == Some(404) => Ok(MailboxState::NoMailbox {
                diagnosis: diagnose(&e),
            }),
            Err(e) if e.status() == Some(403) => Ok(MailboxState::Denied {
                diagnosis: diagnose(&e),
            }),
            Err(e) => Err(e),
        }
    }

    fn parse_item(kind: ItemKind, res: &super::http::Response) -> Result<Item, GraphError> {
        let v: Value = res.json(kind.as_str())?;
        Item::from_json(kind, v).map_err(|e| {
            GraphError::Decode(Box::new(DecodeError {
                method: res.method.clone(),
                url: res.url.clone(),
                expected: kind.as_str(),
                detail: e.to_string(),
                request_id: res.request_id.clone(),
                client_request_id: res.client_request_id.clone(),
            }))
        })
    }

    async fn get(&self, item: &ItemRef) -> Result<Option<Item>, GraphError> {
        let path = encode::get_url(item)?;
        match self
            .http
            .send(&Request::get(path, Some(&item.mailbox)))
            .await
        {
            Ok(res) => Ok(Some(Self::parse_item(item.kind, &res)?)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn find(&self, scope: &StampScope, crm_id: &str) -> Result<Vec<Item>, GraphError> {
        let first = encode::find_url(scope, crm_id)?;
        let path = first.split('?').next().unwrap_or_default().to_owned();
        let raw: Vec<Value> = self
            .list_all(first, Some(&scope.mailbox), "a collection of items")
            .await?;
        let mut out = Vec::new();
        for v in raw {
            let item = Item::from_json(scope.kind, v).map_err(|e| {
                GraphError::Decode(Box::new(DecodeError {
                    method: "GET".into(),
                    url: path.clone(),
                    expected: scope.kind.as_str(),
                    detail: e.to_string(),
                    request_id: None,
                    client_request_id: String::new(),
                }))
            })?;
            // Trust but verify: only items really carrying the stamp count.
            if item.crm_stamp() == Some(crm_id) {
                out.push(item);
            }
        }
        Ok(out)
    }

    async fn create(
        &self,
        target: &CreateTarget,
        body: &Value,
        options: &CreateOptions,
    ) -> Result<Item, GraphError> {
        let path = encode::create_path(target)?;
        if target.kind == ItemKind::Event {
            // One transactionId for every attempt of this create: Graph returns the first event on a repeat.
            let tid = options
                .transaction_id
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            let body =
                encode::create_body(target.kind, body, options.crm_stamp.as_deref(), Some(&tid))?;
            let req = Request::new(Method::POST, path, Some(&target.mailbox)).json(body);
            let res = self.http.send(&req).await?;
            return Self::parse_item(target.kind, &res);
        }
        let body = encode::create_body(target.kind, body, options.crm_stamp.as_deref(), None)?;
        let req = Request::new(Method::POST, path, Some(&target.mailbox))
            .json(body)
            .not_idempotent();
        let mut resends = 0;
        loop {
            match self.http.send(&req).await {
                Ok(res) => return Self::parse_item(target.kind, &res),
                Err(e) if is_ambiguous_failure(&e) && resends < MAX_CREATE_RESENDS => {
                    let Some(crm_id) = &options.crm_stamp else {
                        return Err(e);
                    };
                    resends += 1;
                    // The server may have created it: look it up by its stamp before creating again.
                    let scope = StampScope {
                        mailbox: target.mailbox.clone(),
                        kind: target.kind,
                        list_id: target.container.clone(),
                    };
                    let found = self.find(&scope, crm_id).await?;
                    if let Some(item) = found.into_iter().next() {
                        tracing::info!(crm_id, error = %e, "create failed ambiguously but the item exists; using it");
                        return Ok(item);
                    }
                    tracing::warn!(crm_id, error = %e, resends, "create failed ambiguously and the item does not exist; re-sending");
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// `create_items` through `$batch` (20 a request; the batch layer re-sends throttled items). An item
    /// whose answer is lost or a server error is finished one by one: events by their `transactionId`,
    /// others looked up by stamp first, so nothing is created twice.
    async fn create_many(&self, items: &[super::NewItem]) -> Vec<Result<Item, GraphError>> {
        // Every event gets its transactionId now, so a later single retry repeats the same one.
        let items: Vec<super::NewItem> = items
            .iter()
            .map(|i| {
                let mut i = i.clone();
                if i.target.kind == ItemKind::Event && i.options.transaction_id.is_none() {
                    i.options.transaction_id = Some(uuid::Uuid::new_v4().to_string());
                }
                i
            })
            .collect();
        let mut out: Vec<Option<Result<Item, GraphError>>> = items.iter().map(|_| None).collect();
        let mut requests = Vec::new();
        let mut sent = Vec::new();
        for (n, item) in items.iter().enumerate() {
            let built = encode::create_path(&item.target).and_then(|path| {
                let tid = item.options.transaction_id.as_deref();
                let body = encode::create_body(
                    item.target.kind,
                    &item.body,
                    item.options.crm_stamp.as_deref(),
                    tid,
                )?;
                let req = Request::new(Method::POST, path, Some(&item.target.mailbox)).json(body);
                // Events repeat with their transactionId; other creates are looked up before a resend.
                Ok(if item.target.kind == ItemKind::Event {
                    req
                } else {
                    req.not_idempotent()
                })
            });
            match built {
                Ok(req) => {
                    requests.push(req);
                    sent.push(n);
                }
                Err(e) => out[n] = Some(Err(e)),
            }
        }
        let mut again: Vec<usize> = Vec::new();
        match self
            .http
            .batch(&requests, super::batch::BatchMode::Parallel)
            .await
        {
            Ok(replies) => {
                for (k, reply) in replies.into_iter().enumerate() {
                    let n = sent[k];
                    let kind = items[n].target.kind;
                    out[n] = Some(match reply {
                        Ok(r) => match r.body {
                            Some(body) => Item::from_json(kind, body).map_err(|e| {
                                GraphError::Invalid(format!(
                                    "a created {} in a $batch answer does not parse: {e}",
                                    kind.as_str()
                                ))
                            }),
                            None => {
                                again.push(n);
                                continue;
                            }
                        },
                        Err(api) if is_ambiguous(api.status) => {
                            again.push(n);
                            continue;
                        }
                        Err(api) => Err(GraphError::Api(api)),
                    });
                }
            }
            Err(e) if is_ambiguous_failure(&e) => again.extend(sent.iter().copied()),
            Err(e) => {
                // The first item carries the error itself (its disposition: a revoked consent parks the
                // mailbox), the others its text.
                let message = e.to_string();
                let mut first = Some(e);
                for n in &sent {
                    out[*n] = Some(Err(first
                        .take()
                        .unwrap_or_else(|| GraphError::Invalid(message.clone()))));
                }
            }
        }
        for n in again {
            let item = &items[n];
            let found = match (&item.options.crm_stamp, item.target.kind) {
                (Some(stamp), kind) if kind != ItemKind::Event => {
                    let scope = StampScope {
                        mailbox: item.target.mailbox.clone(),
                        kind,
                        list_id: item.target.container.clone(),
                    };
                    self.find(&scope, stamp).await.map(|v| v.into_iter().next())
                }
                _ => Ok(None),
            };
            out[n] = Some(match found {
                Ok(Some(existing)) => Ok(existing),
                Ok(None) => self.create(&item.target, &item.body, &item.options).await,
                Err(e) => Err(e),
            });
        }
        out.into_iter()
            .map(|r| r.unwrap_or_else(|| Err(GraphError::Invalid("no answer for a create".into()))))
            .collect()
    }

    async fn update(
        &self,
        item: &ItemRef,
        patch: &Value,
        if_match: Option<&str>,
    ) -> Result<UpdateOutcome, GraphError> {
        if !patch.is_object() {
            return Err(GraphError::Invalid(format!(
                "an update of a {} must be a JSON object, found {patch}",
                item.kind.as_str()
            )));
        }
        let path = encode::item_path(item)?;
        let mut etag = if_match.map(str::to_owned);
        let mut conflicts = 0;
        loop {
            let req = Request::new(Method::PATCH, path.clone(), Some(&item.mailbox))
                .json(patch.clone())
                .if_match(etag.as_deref());
            match self.http.send(&req).await {
                Ok(res) => {
                    return Ok(UpdateOutcome {
                        item: Self::parse_item(item.kind, &res)?,
                        conflicts_resolved: conflicts,
                    });
                }
                Err(e) if e.status() == Some(412) && conflicts < MAX_CONFLICT_RETRIES => {
                    conflicts += 1;
                    // Someone changed the item: re-read it and re-apply our fields on its current version.
                    let Some(current) = self.get(item).await? else {
                        return Err(e);
                    };
                    tracing::info!(id = %item.id, conflicts, "412 on update, re-applying on the current version");
                    etag = current.etag().map(str::to_owned);
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn delete(&self, item: &ItemRef, if_match: Option<&str>) -> Result<bool, GraphError> {
        let req = Request::new(
            Method::DELETE,
            encode::item_path(item)?,
            Some(&item.mailbox),
        )
        .if_match(if_match);
        match self.http.send(&req).await {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn stamp_item(&self, item: &ItemRef, crm_id: &str) -> Result<Item, GraphError> {
        if item.kind != ItemKind::Task {
            let patch = encode::stamp_patch(crm_id);
            self.update(item, &patch, None).await?;
            return self.get(item).await?.ok_or_else(|| {
                GraphError::Invalid(format!(
                    "{} {} vanished while being stamped",
                    item.kind.as_str(),
                    item.id
                ))
            });
        }
        let Some(Item::Task(task)) = self.get(item).await? else {
            return Err(GraphError::Invalid(format!(
                "todoTask {} does not exist; cannot stamp it",
                item.id
            )));
        };
        let path = format!("{}/linkedResources", encode::item_path(item)?);
        let ours = own_link(&task);
        match ours {
            Some(link) if link.external_id.as_deref() == Some(crm_id) => {
                return Ok(Item::Task(task));
            }
            Some(link) if link.id.is_some() => {
                let lid = link.id.clone().unwrap_or_default();
                let req = Request::new(
                    Method::PATCH,
                    format!("{path}/{}", seg(&lid)),
                    Some(&item.mailbox),
                )
                .json(json!({"externalId": crm_id, "displayName": format!("CRM record {crm_id}")}));
                self.http.send(&req).await?;
            }
            _ => {
                let req = Request::new(Method::POST, path, Some(&item.mailbox))
                    .json(encode::task_stamp(crm_id));
                self.http.send(&req).await?;
            }
        }
        self.get(item).await?.ok_or_else(|| {
            GraphError::Invalid(format!("todoTask {} vanished while being stamped", item.id))
        })
    }

    async fn delta(
        &self,
        scope: &DeltaScope,
        cursor: &DeltaCursor,
    ) -> Result<DeltaPage, GraphError> {
        let url = match cursor {
            DeltaCursor::Start => start_url(scope)?,
            DeltaCursor::Next(link) | DeltaCursor::Resume(link) => link.clone(),
        };
        let (res, restarted) = match self
            .http
            .send(&Request::get(url, Some(&scope.mailbox)))
            .await
        {
            Ok(res) => (res, None),
            Err(e) if e.is_sync_state_lost() && *cursor != DeltaCursor::Start => {
                let api = e.api().expect("sync state errors are api errors");
                let restart = Restart {
                    code: api.code.clone(),
                    message: api.message.clone(),
                };
                tracing::warn!(mailbox = %scope.mailbox, resource = ?scope.resource, error = %e, "delta state lost; starting a full round");
                let res = self
                    .http
                    .send(&Request::get(start_url(scope)?, Some(&scope.mailbox)))
                    .await?;
                (res, Some(restart))
            }
            Err(e) => return Err(e),
        };
        let page: Collection<Value> =
            res.json("a delta page {\"value\": [...], \"@odata.nextLink\"|\"@odata.deltaLink\"}")?;
        let (changes, next) = parse_page(scope.resource.kind(), page).map_err(|detail| {
            GraphError::Decode(Box::new(DecodeError {
                method: res.method.clone(),
                url: res.url.clone(),
                expected: "a delta page of the resource",
                detail,
                request_id: res.request_id.clone(),
                client_request_id: res.client_request_id.clone(),
            }))
        })?;
        let changes = match scope.resource {
            DeltaResource::Events { .. } => {
                self.classify_calendar_removals(&scope.mailbox, changes)
                    .await?
            }
            _ => changes,
        };
        Ok(DeltaPage {
            changes,
            next,
            restarted,
        })
    }

    /// The tree under `folder` (see [`GraphTransport::mail_folder_tree`]).
    async fn folder_tree(
        &self,
        mailbox: &str,
        folder: &str,
    ) -> Result<Vec<MailFolder>, GraphError> {
        let user = seg(mailbox);
        let select = [("$select", "id,displayName,parentFolderId,childFolderCount")];
        let root: MailFolder = self
            .http
            .send_json(
                &Request::get(
                    with_query(
                        &format!("/users/{user}/mailFolders/{}", seg(folder)),
                        &select,
                    ),
                    Some(mailbox),
                ),
                "a mailFolder",
            )
            .await?;
        let mut never_read: Option<Vec<String>> = None;
        let mut out = vec![root];
        let mut i = 0;
        while i < out.len() {
            if out[i].child_folder_count == Some(0) {
                i += 1;
                continue;
            }
            let url = with_query(
                &format!("/users/{user}/mailFolders/{}/childFolders", seg(&out[i].id)),
                &[
                    ("$select", "id,displayName,parentFolderId,childFolderCount"),
                    ("$top", "100"),
                ],
            );
            let children: Vec<MailFolder> = match self
                .list_all(url, Some(mailbox), "a collection of mailFolder")
                .await
            {
                Ok(c) => c,
                // Deleted while we were reading: it and its subtree are simply not there.
                Err(e) if e.is_not_found() && i > 0 => Vec::new(),
                Err(e) => return Err(e),
            };
            if !children.is_empty() && never_read.is_none() {
                never_read = Some(self.never_read_folder_ids(mailbox).await?);
            }
            let skip = never_read.as_deref().unwrap_or_default();
            // Depth first, parents before children: insert the children right after their parent.
            let kids: Vec<MailFolder> = children
                .into_iter()
                .filter(|c| !skip.contains(&c.id) && !out.iter().any(|o| o.id == c.id))
                .collect();
            let at = i + 1;
            out.splice(at..at, kids);
            i += 1;
        }
        Ok(out)
    }

    /// The ids of the well-known folders never read (those the mailbox has).
    async fn never_read_folder_ids(&self, mailbox: &str) -> Result<Vec<String>, GraphError> {
        let mut ids = Vec::new();
        for name in super::NEVER_READ_MAIL_FOLDERS {
            let url = with_query(
                &format!("/users/{}/mailFolders/{name}", seg(mailbox)),
                &[("$select", "id")],
            );
            match self
                .http
                .send_json::<MailFolder>(&Request::get(url, Some(mailbox)), "a mailFolder")
                .await
            {
                Ok(f) => ids.push(f.id),
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(ids)
    }

    /// One round of `/mailFolders/delta` (see [`GraphTransport::mail_folder_changes`]).
    async fn folder_changes(
        &self,
        mailbox: &str,
        delta_link: Option<&str>,
    ) -> Result<FolderChanges, GraphError> {
        let start = with_query(
            &format!("/users/{}/mailFolders/delta", seg(mailbox)),
            &[("$select", "id,displayName,parentFolderId")],
        );
        let mut full = delta_link.is_none();
        let mut changed = false;
        let mut url = delta_link.map_or_else(|| start.clone(), str::to_owned);
        loop {
            let page: Collection<Value> = match self
                .http
                .send_json(
                    &Request::get(url.clone(), Some(mailbox)),
                    "a delta page of mailFolder",
                )
                .await
            {
                Ok(p) => p,
                Err(e) if e.is_sync_state_lost() && !full => {
                    tracing::warn!(mailbox, error = %e, "folder delta state lost; starting a full round");
                    full = true;
                    changed = false;
                    url = start.clone();
                    continue;
                }
                Err(e) => return Err(e),
            };
            changed |= !page.value.is_empty();
            match (page.next_link, page.delta_link) {
                (Some(next), _) => url = next,
                (None, Some(delta_link)) => {
                    return Ok(FolderChanges {
                        changed,
                        full,
                        delta_link,
                    });
                }
                (None, None) => {
                    return Err(GraphError::Invalid(
                        "a folder delta page without @odata.nextLink or @odata.deltaLink".into(),
                    ));
                }
            }
        }
    }

    /// `POST /contactFolders`, idempotent by name (see [`GraphTransport::create_contact_folder`]).
    async fn new_contact_folder(
        &self,
        mailbox: &str,
        name: &str,
    ) -> Result<ContactFolder, GraphError> {
        let req = Request::new(
            Method::POST,
            format!("/users/{}/contactFolders", seg(mailbox)),
            Some(mailbox),
        )
        .json(serde_json::json!({ "displayName": name }));
        match self
            .http
            .send_json::<ContactFolder>(&req, "a contactFolder")
            .await
        {
            Ok(f) => Ok(f),
            Err(e) if e.status() == Some(409) => {
                let folders: Vec<ContactFolder> = self
                    .list_all(
                        format!("/users/{}/contactFolders", seg(mailbox)),
                        Some(mailbox),
                        "a collection of contactFolder",
                    )
                    .await?;
                folders
                    .into_iter()
                    .find(|f| {
                        f.display_name
                            .as_deref()
                            .is_some_and(|d| d.eq_ignore_ascii_case(name))
                    })
                    .ok_or(e)
            }
            Err(e) => Err(e),
        }
    }

    /// calendarView delta says `@removed` both for deleted events and for events that left the window:
    /// ask Graph which it is, so an event moved far into the future is not taken for a deletion.
    async fn classify_calendar_removals(
        &self,
        mailbox: &str,
        changes: Vec<DeltaChange>,
    ) -> Result<Vec<DeltaChange>, GraphError> {
        let mut out = Vec::with_capacity(changes.len());
        for change in changes {
            let DeltaChange::Removed { id, reason } = change else {
                out.push(change);
                continue;
            };
            let url = with_query(
                &format!("/users/{}/events/{}", seg(mailbox), seg(&id)),
                &[("$select", "id")],
            );
            let reason = match self.http.send(&Request::get(url, Some(mailbox))).await {
                Ok(_) => REMOVED_OUTSIDE_WINDOW.to_owned(),
                Err(e) if e.is_not_found() => reason,
                Err(e) => return Err(e),
            };
            out.push(DeltaChange::Removed { id, reason });
        }
        Ok(out)
    }
}

fn own_link(task: &TodoTask) -> Option<&super::types::LinkedResource> {
    task.linked_resources
        .iter()
        .flatten()
        .find(|r| r.application_name.as_deref() == Some(CRM_STAMP_APPLICATION))
}

/// A failure after which the server may have executed the request.
fn is_ambiguous_failure(e: &GraphError) -> bool {
    match e {
        GraphError::Http(_) => true,
        GraphError::Api(api) => is_ambiguous(api.status),
        _ => false,
    }
}

/// True when `address` is in one of `domains` (case-insensitive).
fn in_domains(address: &str, domains: &[String]) -> bool {
    let Some((_, domain)) = address.rsplit_once('@') else {
        return false;
    };
    domains
        .iter()
        .any(|d| d.trim_start_matches('@').eq_ignore_ascii_case(domain))
}

impl GraphTransport for GraphClient {
    fn health_check<'a>(
        &'a self,
        mailbox: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), GraphError>> {
        Box::pin(async move {
            self.http.check_token().await?;
            if let Some(m) = mailbox {
                let url = with_query(
                    &format!("/users/{}/mailFolders/inbox", seg(m)),
                    &[("$select", "id")],
                );
                self.http.send(&Request::get(url, Some(m))).await?;
            }
            Ok(())
        })
    }

    fn list_mailbox_users<'a>(
        &'a self,
        domains: &'a [String],
    ) -> BoxFuture<'a, Result<UserListing, GraphError>> {
        Box::pin(async move {
            let first = with_query(
                "/users",
                &[
                    (
                        "$select",
                        "id,userPrincipalName,mail,displayName,accountEnabled,userType,proxyAddresses",
                    ),
                    ("$top", "999"),
                ],
            );
            let users: Vec<User> = self.list_all(first, None, "a collection of users").await?;
            let mut wanted: Vec<User> = users
                .into_iter()
                .filter(|u| u.id.is_some())
                .filter(|u| {
                    u.mail.as_deref().is_some_and(|m| in_domains(m, domains))
                        || u.user_principal_name
                            .as_deref()
                            .is_some_and(|m| in_domains(m, domains))
                        || u.proxy_addresses.iter().flatten().any(|p| {
                            p.split_once(':').is_some_and(|(kind, a)| {
                                kind.eq_ignore_ascii_case("smtp") && in_domains(a, domains)
                            })
                        })
                })
                .collect();
            wanted.sort_by(|a, b| a.user_principal_name.cmp(&b.user_principal_name));
            let warned = std::sync::atomic::AtomicBool::new(false);
            let futures: Vec<_> = wanted
                .iter()
                .map(|u| self.probe_mailbox(u, &warned))
                .collect();
            let probes: Vec<Result<MailboxState, GraphError>> = stream::iter(futures)
                .buffered(PROBE_CONCURRENCY)
                .collect()
                .await;
            let mut listing = UserListing::default();
            if warned.load(std::sync::atomic::Ordering::Relaxed) {
                listing.warnings.push(format!(
                    "mailboxSettings is refused: the app lacks the application permission MailboxSettings.Read; \
                     mailboxes were probed through their inbox and use the configured default time zone {}; fix: \
                     add MailboxSettings.Read in Entra ID > App registrations > API permissions and grant admin consent",
                    self.http.config().default_mailbox_time_zone
                ));
            }
            for (u, state) in wanted.into_iter().zip(probes) {
                listing.users.push(MailboxUser {
                    id: u.id.unwrap_or_default(),
                    user_principal_name: u.user_principal_name.unwrap_or_default(),
                    mail: u.mail,
                    display_name: u.display_name,
                    account_enabled: u.account_enabled,
                    mailbox: state?,
                    proxy_addresses: u.proxy_addresses.unwrap_or_default(),
                });
            }
            Ok(listing)
        })
    }

    fn todo_lists<'a>(
        &'a self,
        mailbox: &'a str,
    ) -> BoxFuture<'a, Result<Vec<TodoTaskList>, GraphError>> {
        Box::pin(async move {
            self.list_all(
                format!("/users/{}/todo/lists", seg(mailbox)),
                Some(mailbox),
                "a collection of todoTaskList",
            )
            .await
        })
    }

    fn default_contact_folder<'a>(
        &'a self,
        mailbox: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, GraphError>> {
        Box::pin(async move {
            let url = with_query(
                &format!("/users/{}/contacts", seg(mailbox)),
                &[("$top", "1"), ("$select", "parentFolderId")],
            );
            let page: Collection<super::types::Contact> = self
                .http
                .send_json(
                    &Request::get(url, Some(mailbox)),
                    "a collection of contacts",
                )
                .await?;
            if let Some(id) = page.value.into_iter().find_map(|c| c.parent_folder_id) {
                return Ok(Some(id));
            }
            // No contact yet: the folders under the default one name it as their parent.
            let url = with_query(
                &format!("/users/{}/contactFolders", seg(mailbox)),
                &[("$top", "1"), ("$select", "id,parentFolderId")],
            );
            let page: Collection<ContactFolder> = self
                .http
                .send_json(
                    &Request::get(url, Some(mailbox)),
                    "a collection of contactFolder",
                )
                .await?;
            Ok(page.value.into_iter().find_map(|f| f.parent_folder_id))
        })
    }

    fn contact_folders<'a>(
        &'a self,
        mailbox: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ContactFolder>, GraphError>> {
        Box::pin(async move {
            let children: Vec<ContactFolder> = self
                .list_all(
                    format!("/users/{}/contactFolders", seg(mailbox)),
                    Some(mailbox),
                    "a collection of contactFolder",
                )
                .await?;
            let default = match children.iter().find_map(|f| f.parent_folder_id.clone()) {
                Some(id) => Some(id),
                None => self.default_contact_folder(mailbox).await?,
            };
            let mut out: Vec<ContactFolder> = default
                .map(|id| ContactFolder {
                    id,
                    display_name: Some("Contacts".to_owned()),
                    parent_folder_id: None,
                    other: Default::default(),
                })
                .into_iter()
                .collect();
            let default_id = out.first().map(|d| d.id.clone());
            out.extend(
                children
                    .into_iter()
                    .filter(|c| default_id.as_ref() != Some(&c.id)),
            );
            Ok(out)
        })
    }

    fn mail_folder_tree<'a>(
        &'a self,
        mailbox: &'a str,
        folder: &'a str,
    ) -> BoxFuture<'a, Result<Vec<MailFolder>, GraphError>> {
        Box::pin(self.folder_tree(mailbox, folder))
    }

    fn mail_folder_changes<'a>(
        &'a self,
        mailbox: &'a str,
        delta_link: Option<&'a str>,
    ) -> BoxFuture<'a, Result<FolderChanges, GraphError>> {
        Box::pin(self.folder_changes(mailbox, delta_link))
    }

    fn create_contact_folder<'a>(
        &'a self,
        mailbox: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<ContactFolder, GraphError>> {
        Box::pin(self.new_contact_folder(mailbox, name))
    }

    fn delta_page<'a>(
        &'a self,
        scope: &'a DeltaScope,
        cursor: &'a DeltaCursor,
    ) -> BoxFuture<'a, Result<DeltaPage, GraphError>> {
        Box::pin(self.delta(scope, cursor))
    }

    fn get_item<'a>(
        &'a self,
        item: &'a ItemRef,
    ) -> BoxFuture<'a, Result<Option<Item>, GraphError>> {
        Box::pin(self.get(item))
    }

    fn create_item<'a>(
        &'a self,
        target: &'a CreateTarget,
        body: &'a Value,
        options: &'a CreateOptions,
    ) -> BoxFuture<'a, Result<Item, GraphError>> {
        Box::pin(self.create(target, body, options))
    }

    fn create_items<'a>(
        &'a self,
        items: &'a [super::NewItem],
    ) -> BoxFuture<'a, Vec<Result<Item, GraphError>>> {
        Box::pin(self.create_many(items))
    }

    fn update_item<'a>(
        &'a self,
        item: &'a ItemRef,
        patch: &'a Value,
        if_match: Option<&'a str>,
    ) -> BoxFuture<'a, Result<UpdateOutcome, GraphError>> {
        Box::pin(self.update(item, patch, if_match))
    }

    fn delete_item<'a>(
        &'a self,
        item: &'a ItemRef,
        if_match: Option<&'a str>,
    ) -> BoxFuture<'a, Result<bool, GraphError>> {
        Box::pin(self.delete(item, if_match))
    }

    fn stamp<'a>(
        &'a self,
        item: &'a ItemRef,
        crm_id: &'a str,
    ) -> BoxFuture<'a, Result<Item, GraphError>> {
        Box::pin(self.stamp_item(item, crm_id))
    }

    fn find_by_stamp<'a>(
        &'a self,
        scope: &'a StampScope,
        crm_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Item>, GraphError>> {
        Box::pin(self.find(scope, crm_id))
    }

    fn translate_exchange_ids<'a>(
        &'a self,
        mailbox: &'a str,
        ids: &'a [String],
        from: ExchangeIdType,
        to: ExchangeIdType,
    ) -> BoxFuture<'a, Result<Vec<Option<String>>, GraphError>> {
        Box::pin(async move {
            let mut out = Vec::with_capacity(ids.len());
            for chunk in ids.chunks(TRANSLATE_IDS_PER_REQUEST) {
                let (path, body) = encode::translate_ids(mailbox, chunk, from, to);
                let req = Request::new(Method::POST, path, Some(mailbox)).json(body);
                let page: Collection<ConvertIdResult> = self
                    .http
                    .send_json(&req, "a collection of convertIdResult")
                    .await?;
                for id in chunk {
                    out.push(
                        page.value
                            .iter()
                            .find(|r| r.source_id.as_deref() == Some(id.as_str()))
                            .and_then(|r| r.target_id.clone()),
                    );
                }
            }
            Ok(out)
        })
    }
}

/// One answer of `translateExchangeIds`: a `targetId`, or `errorDetails` (left unread).
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConvertIdResult {
    #[serde(default)]
    source_id: Option<String>,
    #[serde(default)]
    target_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The trait stays usable as `dyn GraphTransport` (engines and services hold it behind an `Arc`).
    #[test]
    fn the_client_is_a_dyn_transport() {
        fn takes(_: std::sync::Arc<dyn GraphTransport>) {}
        let creds = super::super::auth::Credentials::new(
            "https://login.example",
            "t",
            "c",
            "s".to_owned().into(),
        );
        let client =
            GraphClient::new(GraphClientConfig::new("https://graph.example/v1.0", creds)).unwrap();
        assert_eq!(client.stats(), StatsSnapshot::default());
        takes(std::sync::Arc::new(client));
    }

    #[test]
    fn domains_match_case_insensitively() {
        let d = vec!["contoso.com".to_owned()];
        assert!(in_domains("Ana@Contoso.com", &d));
        assert!(!in_domains("eva@fabrikam-partner.com", &d));
        assert!(!in_domains("nobody", &d));
        assert_eq!(encode::odata_string("O'Brien"), "'O''Brien'");
    }
}
