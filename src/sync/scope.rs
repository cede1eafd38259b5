//! The scope of a mailbox, applied right after the Graph read: new items received before the mailbox's
//! e-mail start (`schedules.messages.since`), system-generated messages (`sync.skip_messages`) and
//! correspondence with excluded addresses or domains (`sync.exclude`) are dropped before participants are
//! resolved or anything is planned. Linked items are never dropped: they keep syncing (docs/sync-rules.md).
//!
//! The e-mail start is remembered per mailbox in the state store (cursor scope [`SINCE_SCOPE`] of resource
//! `message`) the first time the mailbox's e-mails are read, so the first run imports no old mail and the
//! start does not move with later runs; `resync` keeps it.

use jiff::Timestamp;

use crate::{
    config::Since,
    scope::{OutOfScope, Scope, SystemMessage},
    state::Link,
};

use super::{
    CycleOptions, Engine, Mode, ResourceSpec, SyncError, graph_side::GraphRead, roster::RosterEntry,
};

/// The state store scope (of resource `message`) holding a mailbox's e-mail start.
pub const SINCE_SCOPE: &str = "since";

/// The scope rules of one mailbox and resource.
pub async fn rules(
    engine: &Engine,
    spec: &ResourceSpec,
    entry: &RosterEntry,
    options: CycleOptions,
) -> Result<Scope, SyncError> {
    let sync = &spec.mapping.sync;
    let mut scope = Scope {
        exclude: sync.exclude.clone(),
        owner: entry.addresses(),
        ..Scope::default()
    };
    if spec.name == "message" {
        scope.skip = sync
            .skip_messages
            .clone()
            .unwrap_or_else(|| SystemMessage::ALL.to_vec());
        scope.since = Some(since(engine, entry, options).await?);
    }
    Ok(scope)
}

/// The mailbox's e-mail start: a configured date, else the remembered one, else (first sync) the
/// configured duration before now, or now; remembered unless this is a dry run.
pub async fn since(
    engine: &Engine,
    entry: &RosterEntry,
    options: CycleOptions,
) -> Result<Timestamp, SyncError> {
    let configured = engine.settings.message_since;
    if let Some(Since::At(at)) = configured {
        return Ok(at);
    }
    let stored = engine
        .state
        .get_cursor(entry.mailbox_id(), "message", SINCE_SCOPE)
        .await
        .map_err(SyncError::state)?;
    if let Some(at) = stored.and_then(|v| v.parse::<Timestamp>().ok()) {
        return Ok(at);
    }
    let at = configured.map_or(options.now, |s| s.resolve(options.now));
    if options.mode == Mode::Apply {
        engine
            .state
            .put_cursor(entry.mailbox_id(), "message", SINCE_SCOPE, &at.to_string())
            .await
            .map_err(SyncError::state)?;
        tracing::info!(mailbox = %entry.address(), since = %at, "e-mails are filed from this instant on (schedules.messages.since)");
    }
    Ok(at)
}

/// Drops the unlinked items `scope` rules out from `read`; returns what was dropped and why.
pub fn retain(scope: &Scope, links: &[Link], read: &mut GraphRead) -> Vec<(String, OutOfScope)> {
    let mut dropped = Vec::new();
    read.items.retain(|id, item| {
        if links.iter().any(|l| l.graph_id == *id) {
            return true;
        }
        match scope.verdict(item) {
            Some(why) => {
                dropped.push((id.clone(), why));
                false
            }
            None => true,
        }
    });
    dropped
}
