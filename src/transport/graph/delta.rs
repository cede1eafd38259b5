//! Delta rounds: the first request of each resource, page parsing, and a round driver that restarts on 410.
//!
//! Graph's delta tokens are opaque and encode every option of the first request, so options are only ever
//! set on `DeltaCursor::Start`; links are followed verbatim.

use std::collections::HashSet;

use jiff::{Timestamp, ToSpan};
use serde_json::Value;

use super::{
    CRM_STAMP_PROPERTY_ID, DeltaChange, DeltaCursor, DeltaNext, DeltaPage, DeltaResource,
    DeltaScope, GraphTransport, Item, ItemKind, Restart,
    error::GraphError,
    http::{seg, with_query},
    types::{Collection, WellknownListName},
};

/// Graph's cap on a calendarView window.
pub const MAX_WINDOW_DAYS: i64 = 1825;

/// `$expand` that brings the CRM stamp along with an item.
pub fn stamp_expand() -> String {
    format!("singleValueExtendedProperties($filter=id eq '{CRM_STAMP_PROPERTY_ID}')")
}

/// `$expand` of messages: the CRM stamp and the message class (`PidTagMessageClass`), which tells
/// automatic replies and delivery reports from correspondence (`scope::system_message`).
pub fn message_expand() -> String {
    format!(
        "singleValueExtendedProperties($filter=id eq '{CRM_STAMP_PROPERTY_ID}' or id eq '{}')",
        crate::scope::MESSAGE_CLASS_PROPERTY_ID
    )
}

/// The first request of a full round for `scope`.
pub fn start_url(scope: &DeltaScope) -> Result<String, GraphError> {
    let user = seg(&scope.mailbox);
    Ok(match &scope.resource {
        DeltaResource::Messages { folder } => with_query(
            &format!("/users/{user}/mailFolders/{}/messages/delta", seg(folder)),
            &[("$expand", &message_expand())],
        ),
        DeltaResource::Events { start, end } => {
            check_window(*start, *end)?;
            with_query(
                &format!("/users/{user}/calendarView/delta"),
                &[
                    ("startDateTime", &start.to_string()),
                    ("endDateTime", &end.to_string()),
                ],
            )
        }
        DeltaResource::Contacts { folder } => {
            format!(
                "/users/{user}/contactFolders/{}/contacts/delta",
                seg(folder)
            )
        }
        DeltaResource::Tasks { list } => {
            format!("/users/{user}/todo/lists/{}/tasks/delta", seg(list))
        }
    })
}

/// Rejects windows Graph would refuse (end before start, longer than 1,825 days).
pub fn check_window(start: Timestamp, end: Timestamp) -> Result<(), GraphError> {
    if end <= start {
        return Err(GraphError::Invalid(format!(
            "calendar window ends ({end}) before it starts ({start}); expected start < end"
        )));
    }
    let cap = start
        .checked_add(MAX_WINDOW_DAYS.hours().checked_mul(24).expect("small span"))
        .map_err(|e| {
            GraphError::Invalid(format!(
                "calendar window start {start} is out of range: {e}"
            ))
        })?;
    if end > cap {
        return Err(GraphError::Invalid(format!(
            "calendar window {start}..{end} is longer than Graph's {MAX_WINDOW_DAYS} days; shorten the sync window"
        )));
    }
    Ok(())
}

/// Turns a delta response body into changes and the next link.
pub fn parse_page(
    kind: ItemKind,
    page: Collection<Value>,
) -> Result<(Vec<DeltaChange>, DeltaNext), String> {
    let next = match (page.next_link, page.delta_link) {
        (Some(next), _) => DeltaNext::More(next),
        (None, Some(delta)) => DeltaNext::Done(delta),
        (None, None) => {
            return Err("a delta page without @odata.nextLink or @odata.deltaLink".to_owned());
        }
    };
    let mut changes = Vec::with_capacity(page.value.len());
    for (i, v) in page.value.into_iter().enumerate() {
        let id = v.get("id").and_then(Value::as_str).map(str::to_owned);
        let Some(id) = id.filter(|id| !id.is_empty()) else {
            return Err(format!("delta item {i} has no id"));
        };
        if let Some(removed) = v.get("@removed") {
            let reason = removed
                .get("reason")
                .and_then(Value::as_str)
                .unwrap_or("deleted")
                .to_owned();
            changes.push(DeltaChange::Removed { id, reason });
            continue;
        }
        let item = Item::from_json(kind, v).map_err(|e| format!("delta item {i} ({id}): {e}"))?;
        changes.push(DeltaChange::Upsert(item));
    }
    Ok((changes, next))
}

/// What kind of round ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoundKind {
    /// Changes since the persisted delta link.
    Incremental,
    /// A full round requested by the caller (no delta link yet).
    Initial,
    /// A full round forced by a lost sync state (410); the restart reason.
    Resync(Restart),
}

impl RoundKind {
    /// A full round lists every item in scope: only after one completes may absent items be deleted.
    pub fn is_full(&self) -> bool {
        !matches!(self, RoundKind::Incremental)
    }
}

/// Summary of a completed round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundOutcome {
    pub kind: RoundKind,
    /// The delta link to persist for the next round.
    pub delta_link: String,
    pub pages: u32,
    pub upserts: u64,
    pub removals: u64,
    /// Distinct ids upserted in this round (after a restart: in the restarted full round only). For a full
    /// round these are all items in scope; anything known before and not here was deleted.
    pub seen: HashSet<String>,
}

/// Steps through one delta round page by page (use it where applying a page is async).
#[derive(Debug)]
pub struct DeltaRound {
    scope: DeltaScope,
    cursor: Option<DeltaCursor>,
    outcome: RoundOutcome,
}

impl DeltaRound {
    /// A round resuming from `delta_link`, or a full round when `None`.
    pub fn new(scope: DeltaScope, delta_link: Option<String>) -> DeltaRound {
        let (cursor, kind) = match delta_link {
            Some(link) => (DeltaCursor::Resume(link), RoundKind::Incremental),
            None => (DeltaCursor::Start, RoundKind::Initial),
        };
        DeltaRound {
            scope,
            cursor: Some(cursor),
            outcome: RoundOutcome {
                kind,
                delta_link: String::new(),
                pages: 0,
                upserts: 0,
                removals: 0,
                seen: HashSet::new(),
            },
        }
    }

    /// The next page, or `None` once the round is complete. When a page has `restarted` set, discard what
    /// earlier pages of this round told you (a full round starts over).
    pub async fn next_page<T: GraphTransport + ?Sized>(
        &mut self,
        t: &T,
    ) -> Result<Option<DeltaPage>, GraphError> {
        let Some(cursor) = self.cursor.take() else {
            return Ok(None);
        };
        let page = match t.delta_page(&self.scope, &cursor).await {
            Ok(page) => page,
            Err(e) => {
                // Keep the cursor so the caller may retry the same page.
                self.cursor = Some(cursor);
                return Err(e);
            }
        };
        if let Some(restart) = &page.restarted {
            tracing::warn!(
                mailbox = %self.scope.mailbox, resource = ?self.scope.resource, code = %restart.code,
                "delta state lost, running a full round"
            );
            self.outcome.kind = RoundKind::Resync(restart.clone());
            self.outcome.pages = 0;
            self.outcome.upserts = 0;
            self.outcome.removals = 0;
            self.outcome.seen.clear();
        }
        self.outcome.pages += 1;
        for change in &page.changes {
            match change {
                DeltaChange::Upsert(item) => {
                    self.outcome.upserts += 1;
                    self.outcome.seen.insert(item.id().to_owned());
                }
                DeltaChange::Removed { id, .. } => {
                    self.outcome.removals += 1;
                    self.outcome.seen.remove(id);
                }
            }
        }
        match &page.next {
            DeltaNext::More(link) => self.cursor = Some(DeltaCursor::Next(link.clone())),
            DeltaNext::Done(link) => self.outcome.delta_link = link.clone(),
        }
        Ok(Some(page))
    }

    /// The summary; meaningful once `next_page` returned `None`.
    pub fn finish(self) -> RoundOutcome {
        self.outcome
    }
}

/// What to sync of one mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeSelection {
    /// Mail folders (well-known names such as `inbox`, `sentitems`, or ids).
    pub mail_folders: Vec<String>,
    /// The calendar window, `None` for no calendar.
    pub window: Option<(Timestamp, Timestamp)>,
    /// Every contact folder (default first).
    pub contacts: bool,
    /// Every To Do list except `flaggedEmails` (flagged messages are not tasks of their own).
    pub tasks: bool,
}

/// The delta scopes of one mailbox for a selection (lists folders and To Do lists through `t`).
pub async fn mailbox_scopes<T: GraphTransport + ?Sized>(
    t: &T,
    mailbox: &str,
    selection: &ScopeSelection,
) -> Result<Vec<DeltaScope>, GraphError> {
    let mut resources: Vec<DeltaResource> = selection
        .mail_folders
        .iter()
        .map(|folder| DeltaResource::Messages {
            folder: folder.clone(),
        })
        .collect();
    if let Some((start, end)) = selection.window {
        check_window(start, end)?;
        resources.push(DeltaResource::Events { start, end });
    }
    if selection.contacts {
        for folder in t.contact_folders(mailbox).await? {
            resources.push(DeltaResource::Contacts { folder: folder.id });
        }
    }
    if selection.tasks {
        for list in t.todo_lists(mailbox).await? {
            if list.wellknown_list_name != Some(WellknownListName::FlaggedEmails) {
                resources.push(DeltaResource::Tasks { list: list.id });
            }
        }
    }
    Ok(resources
        .into_iter()
        .map(|resource| DeltaScope {
            mailbox: mailbox.to_owned(),
            resource,
        })
        .collect())
}

/// Runs a whole round, handing each page to `on_page` as it arrives.
pub async fn run_round<T, F>(
    t: &T,
    scope: &DeltaScope,
    delta_link: Option<&str>,
    mut on_page: F,
) -> Result<RoundOutcome, GraphError>
where
    T: GraphTransport + ?Sized,
    F: FnMut(&DeltaPage),
{
    let mut round = DeltaRound::new(scope.clone(), delta_link.map(str::to_owned));
    while let Some(page) = round.next_page(t).await? {
        on_page(&page);
    }
    Ok(round.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_over_1825_days_are_refused() {
        let start: Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
        let ok: Timestamp = "2029-12-31T00:00:00Z".parse().unwrap();
        let too_long: Timestamp = "2030-01-01T00:00:01Z".parse().unwrap();
        assert!(check_window(start, ok).is_ok());
        let err = check_window(start, too_long).unwrap_err().to_string();
        assert!(err.contains("1825 days"), "{err}");
        assert!(check_window(ok, start).is_err());
    }

    #[test]
    fn removed_items_and_links_are_parsed() {
        let page: Collection<Value> = serde_json::from_str(
            r##"{"@odata.deltaLink":"https://g/v1.0/x?$deltatoken=1","value":[
                {"@odata.type":"#microsoft.graph.event","id":"A","@removed":{"reason":"deleted"}},
                {"id":"B","subject":"s","type":"occurrence","seriesMasterId":"M"}]}"##,
        )
        .unwrap();
        let (changes, next) = parse_page(ItemKind::Event, page).unwrap();
        assert_eq!(
            next,
            DeltaNext::Done("https://g/v1.0/x?$deltatoken=1".into())
        );
        assert_eq!(
            changes[0],
            DeltaChange::Removed {
                id: "A".into(),
                reason: "deleted".into()
            }
        );
        assert!(
            matches!(&changes[1], DeltaChange::Upsert(Item::Event(e)) if e.series_master_id.as_deref() == Some("M"))
        );
    }
}
