//! The mapping context of one mailbox: the CRM's time zone (one zone for every copy of a meeting), the
//! rep's language, the cycle's "now", the owner, and the directory of known participants — reps from the
//! roster, persons resolved by address in one CRM round trip per mailbox and resource.

use indexmap::IndexMap;
use jiff::Timestamp;
use serde_json::Value;

use crate::{
    mapping::{Context, Directory, DirectoryEntry, participants},
    transport::crm::Actor,
};

use super::{
    Engine, ResourceSpec, SyncError, graph_side::GraphRead, roster::Roster, roster::RosterEntry,
};

/// The context without the directory.
pub fn base(engine: &Engine, entry: &RosterEntry, now: Timestamp) -> Result<Context, SyncError> {
    let mut ctx = Context::new(&engine.settings.crm_time_zone).map_err(|e| {
        SyncError::new(
            format!("crm.time_zone: {e}"),
            "set crm.time_zone (or graph.default_time_zone) to a Windows or IANA zone name",
        )
    })?;
    ctx.now = now;
    ctx.lang = entry
        .language
        .clone()
        .unwrap_or_else(|| engine.settings.language.clone());
    ctx.mailbox = entry.email.clone();
    ctx.mailbox_aliases = entry.aliases.clone();
    Ok(ctx)
}

/// Reps of the roster plus the persons the items' participants resolve to.
pub async fn directory(
    engine: &Engine,
    spec: &ResourceSpec,
    entry: &RosterEntry,
    roster: &Roster,
    graph: &GraphRead,
) -> Result<Directory, SyncError> {
    let mut directory = Directory {
        // A rep is known by every address of its mailbox (proxy addresses too).
        reps: roster
            .entries
            .iter()
            .filter(|e| e.email.is_some())
            .flat_map(|e| {
                e.addresses().into_iter().map(|email| DirectoryEntry {
                    email,
                    id: e.rep.rep_id.clone(),
                    name: e.rep.name.clone(),
                    fields: IndexMap::new(),
                })
            })
            .collect(),
        persons: Vec::new(),
    };
    let items: Vec<&serde_json::Value> = graph.items.values().collect();
    resolve_persons(engine, spec, entry, &mut directory, &items).await?;
    Ok(directory)
}

/// Adds to `directory` the CRM persons of every participant address of `items` it does not know yet (one
/// CRM round trip, none when every address is known). An address several persons share stays unresolved.
pub async fn resolve_persons(
    engine: &Engine,
    spec: &ResourceSpec,
    entry: &RosterEntry,
    directory: &mut Directory,
    items: &[&Value],
) -> Result<(), SyncError> {
    let Some(p) = &spec.mapping.participants else {
        return Ok(());
    };
    if p.sources.is_empty() {
        return Ok(());
    }
    let probe = Context {
        mailbox: entry.email.clone(),
        mailbox_aliases: entry.aliases.clone(),
        ..Context::new("UTC").map_err(|e| SyncError::new(e.to_string(), ""))?
    };
    let mut addresses: Vec<String> = Vec::new();
    for item in items {
        for participant in participants::collect(p, item, &probe) {
            if directory.lookup(&participant.address).is_none()
                && !addresses
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(&participant.address))
            {
                addresses.push(participant.address);
            }
        }
    }
    if addresses.is_empty() {
        return Ok(());
    }
    let found = engine
        .crm
        .resolve_emails(&Actor::Master, &addresses)
        .await
        .map_err(SyncError::crm)?;
    for (address, matches) in found {
        let [person] = matches.persons.as_slice() else {
            continue;
        };
        let text = |f: &str| person.text(f).map(str::trim).unwrap_or("").to_owned();
        let mut fields = IndexMap::new();
        for key in ["CoGrp", "CoNo", "PeGrp", "PeNo"] {
            let value = text(key);
            if let Ok(n) = value.parse::<i64>() {
                fields.insert(key.to_owned(), Value::from(n));
            } else if !value.is_empty() {
                fields.insert(key.to_owned(), Value::from(value));
            }
        }
        let name = [text("FirstName"), text("LastName")]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        directory.persons.push(DirectoryEntry {
            email: address,
            id: person.id.to_string(),
            name,
            fields,
        });
    }
    Ok(())
}
