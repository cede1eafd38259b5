//! External Key (XK) rows: where an Aurea CRM keeps the link between a groupware item and a CRM record, as
//! the vendor's groupware connectors do — never in fields of the record itself, which has only its
//! template's form fields.
//!
//! One row per (Ext. System, Ext. Key): the Graph immutable id (or the `iCalUId` / `internetMessageId` that
//! ties copies in several mailboxes together) under Ext. System `GraphApi`, the groupware Content Type, and
//! the record it points at (info-area code + record id). Rows of the earlier connectors (`SyncML`,
//! `marketing.manager`) are read for adoption, never written.
//!
//! The table and field names below are guesses ([G] in `../shared/reference/crm-interface.md`, listed in
//! `docs/crm-interface-assumptions.md`): this module is the one place to change them.

use super::{
    Actor, Command, Condition, CrmError, CrmTransport, Fields, Query, Record, RecordId, Value,
    Written,
};

/// The XK info area's XML name.
pub const TABLE: &str = "ExtKey";
/// Field names of an XK row.
pub mod field {
    pub const EXT_SYSTEM: &str = "ExtSystem";
    pub const EXT_KEY: &str = "ExtKey";
    pub const CONTENT_TYPE: &str = "ContentType";
    pub const REC_TABLE: &str = "RecTable";
    pub const REC_ID: &str = "RecId";
    pub const REP: &str = "RepID";
}
/// The Ext. System this connector writes.
pub const GRAPH_API: &str = "GraphApi";
/// Ext. Systems of earlier connectors whose keys are adopted, never written.
pub const LEGACY_SYSTEMS: &[&str] = &["SyncML", "marketing.manager"];
/// The info-area code an XK row names for a table's XML name (`Contact` → `MA`); a table this list does
/// not know is named by its XML name.
pub fn info_area(table: &str) -> &str {
    match table {
        "Contact" => "MA",
        "Tasks" => "A1",
        "Person" => "KP",
        "PersonPE" => "PE",
        "Absences" => "A3",
        "Company" => "FI",
        other => other,
    }
}

/// Keys per query: keeps one request's condition tree small.
const KEYS_PER_QUERY: usize = 50;

/// One XK row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtKey {
    /// The row's own id (`None` before it is written).
    pub id: Option<RecordId>,
    pub system: String,
    pub key: String,
    /// The groupware content type (`text/x-vevent`, `application/x-mmRecord`, …).
    pub content_type: Option<String>,
    /// The linked record's info-area code (`MA`, `A1`, `KP`, `A3`).
    pub rec_table: String,
    /// The linked record (`None` while a create is in flight: the row reserves the key first).
    pub rec_id: Option<RecordId>,
    /// The rep whose mailbox the key came from.
    pub rep_id: Option<String>,
}

impl ExtKey {
    /// A `GraphApi` row linking `key` to record `rec_id` of info area `rec_table`.
    pub fn graph(key: &str, content_type: &str, rec_table: &str, rec_id: Option<RecordId>) -> Self {
        Self {
            id: None,
            system: GRAPH_API.to_owned(),
            key: key.to_owned(),
            content_type: Some(content_type.to_owned()),
            rec_table: rec_table.to_owned(),
            rec_id,
            rep_id: None,
        }
    }

    fn from_record(record: &Record) -> Self {
        let text = |name| record.text(name).map(str::to_owned);
        Self {
            id: Some(record.id.clone()),
            system: text(field::EXT_SYSTEM).unwrap_or_default(),
            key: text(field::EXT_KEY).unwrap_or_default(),
            content_type: text(field::CONTENT_TYPE),
            rec_table: text(field::REC_TABLE).unwrap_or_default(),
            rec_id: text(field::REC_ID)
                .filter(|id| !id.trim().is_empty())
                .map(|id| RecordId::new(&id)),
            rep_id: text(field::REP),
        }
    }

    fn fields(&self) -> Fields {
        let mut fields = Fields::new();
        fields.insert(field::EXT_SYSTEM.into(), Value::from(self.system.as_str()));
        fields.insert(field::EXT_KEY.into(), Value::from(self.key.as_str()));
        if let Some(content_type) = &self.content_type {
            fields.insert(
                field::CONTENT_TYPE.into(),
                Value::from(content_type.as_str()),
            );
        }
        fields.insert(
            field::REC_TABLE.into(),
            Value::from(self.rec_table.as_str()),
        );
        fields.insert(
            field::REC_ID.into(),
            self.rec_id
                .as_ref()
                .map_or(Value::Null, |id| Value::from(id.as_str())),
        );
        if let Some(rep) = &self.rep_id {
            fields.insert(field::REP.into(), Value::from(rep.as_str()));
        }
        fields
    }
}

const FIELDS: [&str; 6] = [
    field::EXT_SYSTEM,
    field::EXT_KEY,
    field::CONTENT_TYPE,
    field::REC_TABLE,
    field::REC_ID,
    field::REP,
];

fn any_of(field: &str, values: &[&str]) -> Condition {
    match values {
        [one] => Condition::eq(TABLE, field, *one),
        _ => Condition::Or(
            values
                .iter()
                .map(|v| Condition::eq(TABLE, field, *v))
                .collect(),
        ),
    }
}

/// The XK rows of `systems` whose key is one of `keys` (compared as the CRM compares text). Empty `keys`
/// read nothing.
pub async fn find(
    crm: &dyn CrmTransport,
    actor: &Actor,
    systems: &[&str],
    keys: &[&str],
) -> Result<Vec<ExtKey>, CrmError> {
    let mut out = Vec::new();
    if systems.is_empty() {
        return Ok(out);
    }
    for chunk in keys.chunks(KEYS_PER_QUERY) {
        let query = Query::table(TABLE)
            .fields(FIELDS)
            .filter(any_of(field::EXT_SYSTEM, systems))
            .filter(any_of(field::EXT_KEY, chunk));
        out.extend(
            crm.query(actor, &query)
                .await?
                .iter()
                .map(ExtKey::from_record),
        );
    }
    Ok(out)
}

/// The XK rows (of any system) that point at record `rec_id` of info area `rec_table`.
pub async fn for_record(
    crm: &dyn CrmTransport,
    actor: &Actor,
    rec_table: &str,
    rec_id: &RecordId,
) -> Result<Vec<ExtKey>, CrmError> {
    let query = Query::table(TABLE)
        .fields(FIELDS)
        .filter(Condition::eq(TABLE, field::REC_TABLE, rec_table))
        .filter(Condition::eq(TABLE, field::REC_ID, rec_id));
    Ok(crm
        .query(actor, &query)
        .await?
        .iter()
        .map(ExtKey::from_record)
        .collect())
}

/// The XK rows (of any system) that point at any of the records `rec_ids` of info area `rec_table`, a few
/// dozen records per query.
pub async fn for_records(
    crm: &dyn CrmTransport,
    actor: &Actor,
    rec_table: &str,
    rec_ids: &[RecordId],
) -> Result<Vec<ExtKey>, CrmError> {
    let mut out = Vec::new();
    for chunk in rec_ids.chunks(KEYS_PER_QUERY) {
        let ids: Vec<&str> = chunk.iter().map(RecordId::as_str).collect();
        let query = Query::table(TABLE)
            .fields(FIELDS)
            .filter(Condition::eq(TABLE, field::REC_TABLE, rec_table))
            .filter(any_of(field::REC_ID, &ids));
        out.extend(
            crm.query(actor, &query)
                .await?
                .iter()
                .map(ExtKey::from_record),
        );
    }
    Ok(out)
}

/// The rows of earlier connectors ([`LEGACY_SYSTEMS`]) that rep `rep_id` left for records of the info
/// areas `rec_tables` (codes or XML names).
pub async fn legacy_of_rep(
    crm: &dyn CrmTransport,
    actor: &Actor,
    rep_id: &str,
    rec_tables: &[&str],
) -> Result<Vec<ExtKey>, CrmError> {
    let query = Query::table(TABLE)
        .fields(FIELDS)
        .filter(any_of(field::EXT_SYSTEM, LEGACY_SYSTEMS))
        .filter(Condition::eq(TABLE, field::REP, rep_id))
        .filter(any_of(field::REC_TABLE, rec_tables));
    Ok(crm
        .query(actor, &query)
        .await?
        .iter()
        .map(ExtKey::from_record)
        .collect())
}

/// The rows of earlier connectors written or changed at or after `since` (the CRM's `Upd` stamp): how
/// `doctor` tells that the old connector still runs.
pub async fn legacy_changed_since(
    crm: &dyn CrmTransport,
    actor: &Actor,
    since: jiff::Timestamp,
) -> Result<Vec<ExtKey>, CrmError> {
    let query = Query::table(TABLE)
        .fields(FIELDS)
        .filter(any_of(field::EXT_SYSTEM, LEGACY_SYSTEMS))
        .filter(Condition::new(
            TABLE,
            super::UPD_FIELD,
            super::Op::Ge,
            Value::Text(super::format_timestamp(since)),
        ));
    Ok(crm
        .query(actor, &query)
        .await?
        .iter()
        .map(ExtKey::from_record)
        .collect())
}

/// Writes `xk`, keyed by (Ext. System, Ext. Key): a second write of the same key updates the one row, so a
/// retried write never makes a second link.
pub async fn put(crm: &dyn CrmTransport, actor: &Actor, xk: &ExtKey) -> Result<Written, CrmError> {
    crm.upsert(
        actor,
        TABLE,
        &[field::EXT_SYSTEM, field::EXT_KEY],
        xk.fields(),
    )
    .await
}

/// The command [`put`] sends, for batching several writes into one request.
pub fn put_command(xk: &ExtKey) -> Command {
    Command::Upsert {
        table: TABLE.to_owned(),
        key: vec![field::EXT_SYSTEM.to_owned(), field::EXT_KEY.to_owned()],
        fields: xk.fields(),
    }
}

/// Deletes the XK row `id` (deleting a row that is already gone is not an error of this function's
/// callers: the transport reports it as not-found, which they may ignore).
pub async fn remove(crm: &dyn CrmTransport, actor: &Actor, id: &RecordId) -> Result<(), CrmError> {
    crm.delete(actor, TABLE, id).await
}
