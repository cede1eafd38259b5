//! Taking over from the old connector: its External Key rows (Ext. System `SyncML`, `marketing.manager`)
//! hold EWS item ids, which Graph does not use. Before adoption matches them, a rep's legacy keys that look
//! like EWS ids are translated with `translateExchangeIds` (ewsId → restImmutableEntryId, the ids this
//! connector uses), one request per 1000 keys; each key is translated once per process. Keys that name no
//! item of the mailbox (another mailbox's, or a deleted item) simply match nothing.
//!
//! And `doctor`'s question: is the old connector still writing keys ([`still_writing`])?

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
};

use jiff::{SignedDuration, Timestamp};

use crate::transport::{
    crm::{Actor, CrmError, CrmTransport, ext_keys},
    graph::ExchangeIdType,
};

use super::{Engine, ResourceSpec, SyncError, roster::RosterEntry};

/// EWS id → Graph immutable id (`None`: names no item), per mailbox, for the life of the process.
#[derive(Debug, Default)]
pub struct Translations {
    by_mailbox: Mutex<HashMap<String, HashMap<String, Option<String>>>>,
}

/// Whether an XK key looks like an EWS item id (standard base64 of a binary id), not an
/// `internetMessageId`, an `iCalUId` in hex, or a Graph id.
pub fn looks_like_ews_id(key: &str) -> bool {
    let key = key.trim();
    key.len() >= 40
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
        && !key.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The rep's legacy XK rows for the resource's table whose EWS-id keys name an item of this mailbox, each
/// with its key replaced by that item's Graph immutable id.
pub async fn translated_rows(
    engine: &Engine,
    spec: &ResourceSpec,
    entry: &RosterEntry,
) -> Result<Vec<ext_keys::ExtKey>, SyncError> {
    let table = spec.mapping.table.as_str();
    let rows = ext_keys::legacy_of_rep(
        engine.crm.as_ref(),
        &Actor::Master,
        &entry.rep.rep_id,
        &[ext_keys::info_area(table), table],
    )
    .await
    .map_err(SyncError::crm)?;
    let ews: Vec<String> = rows
        .iter()
        .filter(|r| looks_like_ews_id(&r.key))
        .map(|r| r.key.trim().to_owned())
        .collect();
    if ews.is_empty() {
        return Ok(Vec::new());
    }
    let mailbox = entry.mailbox_id().to_owned();
    let unknown: Vec<String> = {
        let cache = engine
            .legacy
            .by_mailbox
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let known = cache.get(&mailbox);
        let mut list: Vec<String> = ews
            .iter()
            .filter(|k| known.is_none_or(|m| !m.contains_key(*k)))
            .cloned()
            .collect();
        list.sort();
        list.dedup();
        list
    };
    if !unknown.is_empty() {
        let answers = engine
            .graph
            .translate_exchange_ids(
                entry.graph_user(),
                &unknown,
                ExchangeIdType::EwsId,
                ExchangeIdType::RestImmutableEntryId,
            )
            .await
            .map_err(SyncError::graph)?;
        let mut cache = engine
            .legacy
            .by_mailbox
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let known = cache.entry(mailbox.clone()).or_default();
        for (key, answer) in unknown.into_iter().zip(answers) {
            known.insert(key, answer);
        }
        tracing::info!(mailbox = %entry.address(), resource = %spec.name, keys = known.len(), "the old connector's EWS ids translated to Graph ids");
    }
    let cache = engine
        .legacy
        .by_mailbox
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let Some(known) = cache.get(&mailbox) else {
        return Ok(Vec::new());
    };
    Ok(rows
        .into_iter()
        .filter_map(|mut row| {
            let graph_id = known.get(row.key.trim())?.clone()?;
            row.key = graph_id;
            Some(row)
        })
        .collect())
}

/// How long after its last write the old connector counts as still running.
pub const STILL_WRITING_WITHIN: SignedDuration = SignedDuration::from_hours(24);

/// `doctor`'s warning when rows of an earlier connector were written within the last day before `now`:
/// both connectors would create the same appointments and e-mails.
pub async fn still_writing(
    crm: &dyn CrmTransport,
    now: Timestamp,
) -> Result<Option<String>, CrmError> {
    let since = now - STILL_WRITING_WITHIN;
    let rows = ext_keys::legacy_changed_since(crm, &Actor::Master, since).await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let mut systems: Vec<&str> = rows.iter().map(|r| r.system.as_str()).collect();
    systems.sort();
    systems.dedup();
    let mut reps: Vec<&str> = rows.iter().filter_map(|r| r.rep_id.as_deref()).collect();
    reps.sort();
    reps.dedup();
    Ok(Some(format!(
        "the old connector is still writing: {} external keys of {} changed in the last 24 hours{}; fix: stop the old connector before graph-connector syncs these mailboxes, or both create the same appointments and e-mails (its keys are taken over once it stopped)",
        rows.len(),
        systems.join(", "),
        if reps.is_empty() {
            String::new()
        } else {
            format!(" (reps {})", reps.join(", "))
        }
    )))
}

#[cfg(test)]
mod tests {
    use super::looks_like_ews_id;

    #[test]
    fn ews_ids_are_told_from_other_keys() {
        assert!(looks_like_ews_id(
            "AAMkAGI2TG93AAA+/bcdefghijklmnopqrstuvwxyz0123456789AAA="
        ));
        for other in [
            "<agreement-1@fabrikam.com>",
            "040000008200E00074C5B7101A82E00800000000D0F7F0A8C6B4D801000000000000000010000000",
            "AAMkAGI2-short",
            "ical:abc",
        ] {
            assert!(!looks_like_ews_id(other), "{other}");
        }
    }
}
