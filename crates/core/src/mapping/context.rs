//! The evaluation context: what the connector knows besides the item (mailbox time zone, language, "now",
//! the mailbox owner, the folder and the directory of known CRM participants).

use std::collections::HashMap;

use indexmap::IndexMap;
use jiff::{Timestamp, tz::TimeZone};
use serde_json::Value;

use super::time::resolve_time_zone;
use crate::spec::tests::{DirectoryEntry as SpecEntry, DirectorySpec};

/// Context of one evaluation. "Now" is data here: the engine never reads the clock.
#[derive(Debug, Clone)]
pub struct Context {
    /// The mailbox time zone.
    pub tz: TimeZone,
    /// Its name as configured (Windows or IANA); written to Graph `dateTimeTimeZone.timeZone`.
    pub tz_name: String,
    /// Language of texts (`en`, `de`).
    pub lang: String,
    /// The current time, supplied by the caller.
    pub now: Timestamp,
    /// The mailbox owner's address.
    pub mailbox: Option<String>,
    /// The owner's other addresses (proxy addresses): participants with them are the owner too.
    pub mailbox_aliases: Vec<String>,
    /// Well-known name of the folder the item is in.
    pub folder: Option<String>,
    /// Known CRM reps and persons.
    pub directory: Directory,
}

/// A context that cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error(
        "unknown time zone `{0}`: expected a Windows name (`W. Europe Standard Time`) or an IANA name (`Europe/Berlin`)"
    )]
    TimeZone(String),
}

impl Context {
    /// A context for the mailbox time zone `tz` (Windows or IANA name), language `en`, empty directory,
    /// "now" = the Unix epoch (set `now` when rules depend on it).
    pub fn new(tz: &str) -> Result<Self, ContextError> {
        let zone = resolve_time_zone(tz).ok_or_else(|| ContextError::TimeZone(tz.to_string()))?;
        Ok(Context {
            tz: zone,
            tz_name: tz.to_string(),
            lang: "en".into(),
            now: Timestamp::UNIX_EPOCH,
            mailbox: None,
            mailbox_aliases: Vec::new(),
            folder: None,
            directory: Directory::default(),
        })
    }
}

impl Context {
    /// Whether `address` is the mailbox owner's (`mailbox` or one of its aliases; case ignored).
    pub fn is_mailbox(&self, address: &str) -> bool {
        let address = address.trim();
        self.mailbox
            .iter()
            .chain(&self.mailbox_aliases)
            .any(|m| m.trim().eq_ignore_ascii_case(address))
    }
}

/// Known CRM participants, looked up by e-mail address (case-insensitive).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Directory {
    pub reps: Vec<DirectoryEntry>,
    pub persons: Vec<DirectoryEntry>,
}

/// One known participant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryEntry {
    pub email: String,
    pub id: String,
    pub name: String,
    /// CRM key fields (`CoGrp`, `CoNo`, `PeGrp`, `PeNo`) for linking.
    pub fields: IndexMap<String, Value>,
}

/// What an address resolves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found<'a> {
    Rep(&'a DirectoryEntry),
    Person(&'a DirectoryEntry),
}

impl Directory {
    /// Every entry by its lower-case address, reps winning over persons (as in [`Directory::lookup`]):
    /// built once per item so resolving many participants is linear, not participants × entries.
    pub fn index(&self) -> HashMap<String, Found<'_>> {
        let mut index = HashMap::with_capacity(self.reps.len() + self.persons.len());
        let entries = self
            .reps
            .iter()
            .map(Found::Rep)
            .chain(self.persons.iter().map(Found::Person));
        for found in entries {
            let entry = match found {
                Found::Rep(e) | Found::Person(e) => e,
            };
            index
                .entry(entry.email.trim().to_ascii_lowercase())
                .or_insert(found);
        }
        index
    }

    /// Reps first, then persons.
    pub fn lookup(&self, email: &str) -> Option<Found<'_>> {
        let eq = |e: &&DirectoryEntry| e.email.eq_ignore_ascii_case(email.trim());
        self.reps
            .iter()
            .find(eq)
            .map(Found::Rep)
            .or_else(|| self.persons.iter().find(eq).map(Found::Person))
    }
}

impl From<&SpecEntry> for DirectoryEntry {
    fn from(e: &SpecEntry) -> Self {
        DirectoryEntry {
            email: e.email.clone(),
            id: e.id.clone(),
            name: e.name.clone(),
            fields: e.fields.clone(),
        }
    }
}

impl From<&DirectorySpec> for Directory {
    fn from(d: &DirectorySpec) -> Self {
        Directory {
            reps: d.reps.iter().map(Into::into).collect(),
            persons: d.persons.iter().map(Into::into).collect(),
        }
    }
}
