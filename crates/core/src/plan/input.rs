//! The planner's inputs: plain data the runner fills from the transports (changes), the state store
//! (links) and its adoption look-ups (candidates). Serde forms exist for test cases and `plan --format json`.

use std::ops::Deref;

use indexmap::IndexMap;
use jiff::Timestamp;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::hash::content_hash;
use crate::mapping::FieldValue;

/// Mapped CRM fields (the `to_crm` output, or a CRM record restricted to the fields the mapping writes, so
/// both sides hash alike). In YAML/JSON a map of field → value; `null` leaves a field out.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Fields(pub IndexMap<String, FieldValue>);

impl Deref for Fields {
    type Target = IndexMap<String, FieldValue>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl From<IndexMap<String, FieldValue>> for Fields {
    fn from(fields: IndexMap<String, FieldValue>) -> Self {
        Fields(fields)
    }
}

impl FromIterator<(String, FieldValue)> for Fields {
    fn from_iter<I: IntoIterator<Item = (String, FieldValue)>>(iter: I) -> Self {
        Fields(iter.into_iter().collect())
    }
}

impl Serialize for Fields {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = IndexMap::<String, serde_json::Value>::deserialize(d)?;
        Ok(raw
            .iter()
            .filter_map(|(k, v)| FieldValue::from_json(v).map(|v| (k.clone(), v)))
            .collect())
    }
}

/// One side's content: the fields and their [`content_hash`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Content {
    #[serde(default)]
    pub fields: Fields,
    /// The content hash; absent: computed from `fields`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
}

impl Content {
    /// The given hash, or the content hash of the fields.
    pub fn hash(&self) -> String {
        self.hash
            .clone()
            .unwrap_or_else(|| content_hash(&self.fields))
    }
}

/// What ties copies of one item in several mailboxes together: the `iCalUId` of a meeting, or the
/// `internetMessageId` of an e-mail together with its sent time and sender (the id alone can repeat).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Correlation {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
}

impl Correlation {
    /// The comparison key: id, sent time to the second, sender without case.
    pub fn key(&self) -> String {
        let sent = self
            .sent
            .map(|t| t.as_second().to_string())
            .unwrap_or_default();
        let sender = self
            .sender
            .as_deref()
            .map(|s| s.trim().to_lowercase())
            .unwrap_or_default();
        format!("{}|{sent}|{sender}", self.id)
    }

    /// Reads back what [`Correlation::key`] wrote (the state store keeps the key); `None` for text that
    /// is not a key.
    pub fn from_key(key: &str) -> Option<Correlation> {
        let mut parts = key.rsplitn(3, '|');
        let sender = parts.next()?;
        let sent = parts.next()?;
        let id = parts.next()?;
        let sent = match sent {
            "" => None,
            s => Some(Timestamp::from_second(s.parse().ok()?).ok()?),
        };
        Some(Correlation {
            id: id.to_owned(),
            sent,
            sender: (!sender.is_empty()).then(|| sender.to_owned()),
        })
    }
}

/// The organizer of a meeting as seen from one copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Organizer {
    /// This copy is the organizer's own (Graph `isOrganizer`).
    pub is_self: bool,
    /// The organizer is a synced rep (whether or not this is their copy).
    pub is_synced_rep: bool,
}

/// Place of an item in a recurring series.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Series {
    /// The series master.
    Master,
    /// An occurrence; the Graph id of its master.
    Occurrence(String),
    /// A changed occurrence; the Graph id of its master.
    Exception(String),
}

impl Series {
    /// The master's Graph id, for occurrences and exceptions.
    pub fn master(&self) -> Option<&str> {
        match self {
            Series::Master => None,
            Series::Occurrence(m) | Series::Exception(m) => Some(m),
        }
    }
}

/// A change of one Graph item in the mailbox being planned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphChange {
    /// Immutable Graph id (unique within the mailbox).
    pub graph_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation: Option<Correlation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<Timestamp>,
    /// For reports only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Meetings only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organizer: Option<Organizer>,
    /// The organizer cancelled the meeting (Graph `isCancelled`).
    #[serde(default)]
    pub is_cancelled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<Series>,
    pub kind: GraphKind,
}

/// What happened to the Graph item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GraphKind {
    /// Created or changed; the mapped CRM fields.
    Upserted(Content),
    /// Deleted from the mailbox (a full delta round's `@removed` with reason `deleted`).
    Removed,
    /// Left the time window or a selection filter: never a delete. A linked item fetched outside the
    /// window carries its content and is still updated.
    OutsideWindow(#[serde(default)] Option<Content>),
    /// The copy vanished because its rep declined the meeting.
    Declined,
}

/// A CRM record, by table (XML name) and record id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrmRef {
    pub table: String,
    pub id: String,
}

impl std::fmt::Display for CrmRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.table, self.id)
    }
}

/// A change of one CRM record that concerns the mailbox being planned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrmChange {
    pub record: CrmRef,
    /// In UTC (the runner converts the CRM's local times), for `newest-wins`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub kind: CrmKind,
}

/// What happened to the CRM record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CrmKind {
    /// Created or changed; the record's fields (restricted to the mapping's fields).
    Upserted(Content),
    /// Deleted.
    Deleted,
    /// The deletion flag (`ConnectorDeleted`) was set.
    FlaggedDeleted,
    /// Left the CRM filter or the rep's selection: unlink, not delete.
    LeftScope,
}

/// Which side an item started on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// The CRM record was created from (or adopted for) a Graph item.
    #[default]
    Graph,
    /// The connector created the Graph item from a CRM record.
    Crm,
}

/// A link from the state store: one mailbox's Graph item ⇄ one CRM record, with the content hash of each
/// side at the last sync. All links given to one `plan` call belong to its resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    pub mailbox: String,
    pub graph_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation: Option<Correlation>,
    pub record: CrmRef,
    pub graph_hash: String,
    pub crm_hash: String,
    /// This copy writes the record's fields (the organizer's copy, or the copy that created the record
    /// when the organizer is not a synced rep); other copies only add their rep as participant.
    #[serde(default = "yes")]
    pub authoritative: bool,
    /// The record is ConnectorPublished: Graph → CRM only.
    #[serde(default)]
    pub published: bool,
    #[serde(default)]
    pub origin: Origin,
}

fn yes() -> bool {
    true
}

/// How an existing record or item was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FoundBy {
    /// Our stamp / a `GraphApi` external key with this Graph id.
    Stamp,
    /// The `iCalUId` / `internetMessageId`.
    Correlation,
    /// An external key a previous connector left (Ext. System `marketing.manager`, `SyncML`).
    LegacyKey(String),
    /// The e-mail address (an existing Outlook contact).
    Address,
}

impl std::fmt::Display for FoundBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FoundBy::Stamp => f.write_str("our stamp (GraphApi external key)"),
            FoundBy::Correlation => f.write_str("its iCalUId / internetMessageId"),
            FoundBy::LegacyKey(system) => {
                write!(f, "the external key of the previous connector `{system}`")
            }
            FoundBy::Address => f.write_str("its e-mail address"),
        }
    }
}

/// An existing CRM record found for a Graph item before planning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrmCandidate {
    /// Found for this Graph id (by stamp) …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graph_id: Option<String>,
    /// … or for this correlation key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation: Option<Correlation>,
    pub record: CrmRef,
    pub found_by: FoundBy,
}

/// An existing Graph item found for a CRM record before planning (e.g. an Outlook contact by address).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphCandidate {
    pub record: CrmRef,
    pub graph_id: String,
    pub found_by: FoundBy,
}

/// Adoption candidates the runner looked up.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Candidates {
    #[serde(default)]
    pub crm: Vec<CrmCandidate>,
    #[serde(default)]
    pub graph: Vec<GraphCandidate>,
}

/// The changes of one mailbox and resource in one cycle.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Changes {
    /// The mailbox planned (the state store's key: the Entra user object id).
    pub mailbox: String,
    pub resource: String,
    #[serde(default)]
    pub graph: Vec<GraphChange>,
    #[serde(default)]
    pub crm: Vec<CrmChange>,
}
