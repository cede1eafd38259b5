//! Domain types of the CRM transport: records, values, conditions, queries, commands and replies.

use indexmap::IndexMap;
use jiff::civil::{Date, Time};

pub use graph_connector_core::directory::{RecordId, Rep};

use super::{CrmError, CrmErrorKind};

/// Pseudo field addressing a record by its id in a condition (assumption G5).
pub const ID_FIELD: &str = "ID";
/// Read-only system field: last change, UTC RFC 3339 (assumption G5).
pub const UPD_FIELD: &str = "Upd";
/// Read-only system field: creation, UTC RFC 3339 (assumption G5).
pub const CREATED_FIELD: &str = "Created";
/// The rep info area (ID).
pub const REP_TABLE: &str = "Rep";
/// The person info area (KP).
pub const PERSON_TABLE: &str = "Person";
/// The company info area (FI).
pub const COMPANY_TABLE: &str = "Company";
/// The Tel.No./E-mail info area (TN): phone numbers and e-mail addresses of persons and companies, linked
/// to them by `PeGrp`/`PeNo` (person) and `CoGrp`/`CoNo` (company). Table and field names are guesses (G16).
pub const TEL_NO_TABLE: &str = "TelNo";
/// The TN field holding the number or address (G16).
pub const TEL_NO_NUMBER: &str = "Number";
/// Fields read from a TN row matched by e-mail.
pub const TEL_NO_FIELDS: &[&str] = &["CoGrp", "CoNo", "PeGrp", "PeNo", TEL_NO_NUMBER];
/// Fields read for a [`Rep`].
pub const REP_FIELDS: &[&str] = &[
    "RepID",
    "Name",
    "E-mail1",
    "EnableConnector",
    "SyncEmails",
    "SyncAppointments",
    "SyncTasks",
    "SyncContacts",
];
/// Fields read for a person matched by e-mail.
pub const PERSON_FIELDS: &[&str] = &[
    "CoGrp",
    "CoNo",
    "PeGrp",
    "PeNo",
    "FirstName",
    "LastName",
    "E-mail1",
    "E-mail2",
];
/// Fields read for a company matched by e-mail (through TN).
pub const COMPANY_FIELDS: &[&str] = &["CoGrp", "CoNo", "Company", "E-mail"];

/// A field value. Writes use every variant; reads yield [`Value::Text`] (wire form) or [`Value::Null`].
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Text(String),
    Number(f64),
    Bool(bool),
    Date(Date),
    Time(Time),
}

impl Value {
    /// The text of a [`Value::Text`], `None` otherwise.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(text) => Some(text),
            _ => None,
        }
    }

    /// The wire form of this value (`None` for null), using `formats` for dates and times.
    pub fn to_wire(&self, formats: &WireFormats) -> Option<String> {
        match self {
            Value::Null => None,
            Value::Text(text) if text.is_empty() => None,
            Value::Text(text) => Some(text.clone()),
            Value::Number(n) => Some(format!("{n}")),
            Value::Bool(b) => Some(if *b { "true" } else { "false" }.to_owned()),
            // `WireFormats::check` (run when a client or fake is configured) makes these infallible; the
            // ISO fallback only guards against a format that was never checked.
            Value::Date(d) => Some(
                jiff::fmt::strtime::format(&formats.date, *d).unwrap_or_else(|_| d.to_string()),
            ),
            Value::Time(t) => Some(
                jiff::fmt::strtime::format(&formats.time, *t)
                    .unwrap_or_else(|_| t.strftime("%H:%M:%S").to_string()),
            ),
        }
    }
}

impl From<&str> for Value {
    fn from(text: &str) -> Self {
        Value::Text(text.to_owned())
    }
}

impl From<String> for Value {
    fn from(text: String) -> Self {
        Value::Text(text)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

/// Field name → value, in the order given (the order fields are written on the wire).
pub type Fields = IndexMap<String, Value>;

/// Date and time formats of the wire (jiff strftime patterns), from the connector config (G12).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireFormats {
    pub date: String,
    pub time: String,
}

impl Default for WireFormats {
    fn default() -> Self {
        Self {
            date: "%Y-%m-%d".to_owned(),
            time: "%H:%M".to_owned(),
        }
    }
}

impl WireFormats {
    /// Checks that both patterns format a date/time and parse back what they format.
    pub fn check(&self) -> Result<(), String> {
        let date = jiff::civil::date(2026, 11, 26);
        let text = jiff::fmt::strtime::format(&self.date, date)
            .map_err(|e| format!("date format `{}` is not usable: {e}", self.date))?;
        if self.parse_date(&text) != Some(date) {
            return Err(format!(
                "date format `{}` does not read back what it writes (`{text}`); expected a pattern like `%Y-%m-%d`",
                self.date
            ));
        }
        let time = jiff::civil::time(9, 5, 0, 0);
        let text = jiff::fmt::strtime::format(&self.time, time)
            .map_err(|e| format!("time format `{}` is not usable: {e}", self.time))?;
        if self.parse_time(&text) != Some(time) {
            return Err(format!(
                "time format `{}` does not read back what it writes (`{text}`); expected a pattern like `%H:%M`",
                self.time
            ));
        }
        Ok(())
    }

    pub fn parse_date(&self, text: &str) -> Option<Date> {
        Date::strptime(&self.date, text).ok()
    }

    pub fn parse_time(&self, text: &str) -> Option<Time> {
        Time::strptime(&self.time, text).ok()
    }

    pub fn parse_bool(text: &str) -> Option<bool> {
        match text {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }
}

/// How catalog fields travel (command attributes `catbynum` / `catexkeys`, G11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CatalogMode {
    /// Localized text in the request language (the interface default).
    #[default]
    Text,
    /// Numeric codes (`catbynum="true"`).
    Code,
    /// External keys `<station>_<catno>_<code>` (`catexkeys="true"`).
    ExtKey,
}

impl From<&RecordId> for Value {
    fn from(id: &RecordId) -> Self {
        Value::Text(id.as_str().to_owned())
    }
}

/// One CRM record as read.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The info area's XML name (`Contact`), even when the query used an alias.
    pub table: String,
    /// The alias the query gave this table, if any.
    pub alias: Option<String>,
    /// The info area's short code (`MA`).
    pub tableshort: String,
    pub id: RecordId,
    pub fields: Fields,
    /// Records of nested query tables linked to this one.
    pub children: Vec<Record>,
    /// Marked deleted in the CRM (only read with [`CursorFlags::READ_DELETED`]).
    pub deleted: bool,
}

impl Record {
    /// The text of `field`, `None` when absent or empty.
    pub fn text(&self, field: &str) -> Option<&str> {
        self.fields.get(field).and_then(Value::as_text)
    }

    /// `field` as a date in the wire format; `None` when absent, empty or not a date.
    pub fn date(&self, field: &str, formats: &WireFormats) -> Option<Date> {
        self.text(field).and_then(|t| formats.parse_date(t))
    }

    /// `field` as a time in the wire format; `None` when absent, empty or not a time.
    pub fn time(&self, field: &str, formats: &WireFormats) -> Option<Time> {
        self.text(field).and_then(|t| formats.parse_time(t))
    }

    /// `field` as a boolean (`true`/`false`); `None` when absent, empty or neither.
    pub fn bool(&self, field: &str) -> Option<bool> {
        self.text(field).and_then(WireFormats::parse_bool)
    }

    /// `field` as a number; `None` when absent, empty or not a number.
    pub fn number(&self, field: &str) -> Option<f64> {
        self.text(field).and_then(|t| t.trim().parse().ok())
    }
}

/// Comparison operators of `<cond op="…">`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
    /// `()`: contains.
    Contains,
    /// `)(`: does not contain.
    NotContains,
}

impl Op {
    pub fn wire(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Gt => ">",
            Op::Le => "<=",
            Op::Ge => ">=",
            Op::Contains => "()",
            Op::NotContains => ")(",
        }
    }

    pub fn from_wire(op: &str) -> Option<Self> {
        Some(match op {
            "=" => Op::Eq,
            "!=" | "<>" => Op::Ne,
            "<" => Op::Lt,
            ">" => Op::Gt,
            "<=" => Op::Le,
            ">=" => Op::Ge,
            "()" => Op::Contains,
            ")(" => Op::NotContains,
            _ => return None,
        })
    }
}

/// One comparison: `table[alias].field op value`. A `*` in the value of `=`/`!=` is a wildcard.
#[derive(Debug, Clone, PartialEq)]
pub struct Cond {
    pub table: String,
    pub alias: Option<String>,
    pub field: String,
    pub op: Op,
    pub value: Value,
}

/// A condition tree: comparisons in and/or groups, nested at will.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    Cond(Cond),
    And(Vec<Condition>),
    Or(Vec<Condition>),
}

impl Condition {
    pub fn new(table: &str, field: &str, op: Op, value: impl Into<Value>) -> Self {
        Condition::Cond(Cond {
            table: table.to_owned(),
            alias: None,
            field: field.to_owned(),
            op,
            value: value.into(),
        })
    }

    pub fn eq(table: &str, field: &str, value: impl Into<Value>) -> Self {
        Self::new(table, field, Op::Eq, value)
    }

    /// The same comparison on the aliased read of `table`.
    pub fn alias(mut self, alias: &str) -> Self {
        if let Condition::Cond(cond) = &mut self {
            cond.alias = Some(alias.to_owned());
        }
        self
    }
}

/// Cursor flags of `<table flags="…">` (reference §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CursorFlags(pub u32);

impl CursorFlags {
    /// Parent only if it has at least one child.
    pub const WITH: CursorFlags = CursorFlags(256);
    /// With WITH: children are not returned.
    pub const EXISTS: CursorFlags = CursorFlags(512);
    /// Parent only if it has no child.
    pub const NOT_EXISTS: CursorFlags = CursorFlags(1024);
    /// Also read records marked deleted.
    pub const READ_DELETED: CursorFlags = CursorFlags(16384);

    pub fn contains(self, other: CursorFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for CursorFlags {
    type Output = CursorFlags;
    fn bitor(self, rhs: Self) -> Self {
        CursorFlags(self.0 | rhs.0)
    }
}

/// One table of a query; `children` are read along their link to this one.
#[derive(Debug, Clone, PartialEq)]
pub struct TableQuery {
    pub table: String,
    pub alias: Option<String>,
    pub fields: Vec<String>,
    pub max_records: Option<u32>,
    pub flags: CursorFlags,
    pub children: Vec<TableQuery>,
}

impl TableQuery {
    pub fn new(table: &str) -> Self {
        Self {
            table: table.to_owned(),
            alias: None,
            fields: Vec::new(),
            max_records: None,
            flags: CursorFlags::default(),
            children: Vec::new(),
        }
    }

    /// The name records of this table carry in answers: the alias, else the table.
    pub fn element_name(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.table)
    }

    pub fn alias(mut self, alias: &str) -> Self {
        self.alias = Some(alias.to_owned());
        self
    }

    pub fn fields<'f>(mut self, fields: impl IntoIterator<Item = &'f str>) -> Self {
        self.fields.extend(fields.into_iter().map(str::to_owned));
        self
    }

    pub fn max_records(mut self, n: u32) -> Self {
        self.max_records = Some(n);
        self
    }

    pub fn flags(mut self, flags: CursorFlags) -> Self {
        self.flags = flags;
        self
    }

    pub fn child(mut self, child: TableQuery) -> Self {
        self.children.push(child);
        self
    }
}

/// A read: a (tree of) tables and a condition over any of them.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub root: TableQuery,
    pub condition: Option<Condition>,
}

impl Query {
    pub fn table(table: &str) -> Self {
        Self {
            root: TableQuery::new(table),
            condition: None,
        }
    }

    pub fn fields<'f>(mut self, fields: impl IntoIterator<Item = &'f str>) -> Self {
        self.root = self.root.fields(fields);
        self
    }

    pub fn max_records(mut self, n: u32) -> Self {
        self.root.max_records = Some(n);
        self
    }

    pub fn flags(mut self, flags: CursorFlags) -> Self {
        self.root.flags = flags;
        self
    }

    pub fn child(mut self, child: TableQuery) -> Self {
        self.root.children.push(child);
        self
    }

    /// Adds `condition`, AND-ed with any condition already present.
    pub fn filter(mut self, condition: Condition) -> Self {
        self.condition = Some(match self.condition.take() {
            None => condition,
            Some(Condition::And(mut all)) => {
                all.push(condition);
                Condition::And(all)
            }
            Some(other) => Condition::And(vec![other, condition]),
        });
        self
    }
}

/// One command of a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Query(Query),
    /// Creates a record (no match key; not repeated when its outcome is unknown).
    Insert {
        table: String,
        fields: Fields,
    },
    /// Sets the given fields of record `id`.
    Update {
        table: String,
        id: RecordId,
        fields: Fields,
    },
    /// Deletes record `id` (kept with a deleted mark).
    Delete {
        table: String,
        id: RecordId,
    },
    /// Insert-or-update by the `key` fields (each must be in `fields`).
    Upsert {
        table: String,
        key: Vec<String>,
        fields: Fields,
    },
    /// Undeleted records whose `key` fields equal the values (exact); writes nothing.
    Match {
        table: String,
        key: Fields,
    },
    /// All values of the named catalog.
    ReadCatalog(String),
}

impl Command {
    /// The table a command works on (`Catalog` for catalog reads).
    pub fn table(&self) -> &str {
        match self {
            Command::Query(query) => &query.root.table,
            Command::Insert { table, .. }
            | Command::Update { table, .. }
            | Command::Delete { table, .. }
            | Command::Upsert { table, .. }
            | Command::Match { table, .. } => table,
            Command::ReadCatalog(_) => "Catalog",
        }
    }

    /// True for commands that change data.
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Command::Insert { .. }
                | Command::Update { .. }
                | Command::Delete { .. }
                | Command::Upsert { .. }
        )
    }
}

/// A command in a batch, optionally depending on the success of the one before it.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchCommand {
    pub command: Command,
    /// Run only if the previous command succeeded (sent as `<break>` before it, G15).
    pub after_success: bool,
}

impl BatchCommand {
    pub fn new(command: Command) -> Self {
        Self {
            command,
            after_success: false,
        }
    }

    pub fn after_success(command: Command) -> Self {
        Self {
            command,
            after_success: true,
        }
    }
}

/// Whether an upsert created or changed a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteAction {
    Insert,
    Update,
    Delete,
}

/// The result of a write command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub table: String,
    pub id: RecordId,
    pub action: WriteAction,
}

/// The successful result of one command.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Records(Vec<Record>),
    Written(Written),
    Catalog(Vec<CatalogValue>),
    /// Not run: a `<break>` stopped the request before this command.
    Skipped,
}

impl Reply {
    pub fn kind_name(&self) -> &'static str {
        match self {
            Reply::Records(_) => "records",
            Reply::Written(_) => "written",
            Reply::Catalog(_) => "catalog",
            Reply::Skipped => "skipped",
        }
    }

    pub fn into_records(self) -> Result<Vec<Record>, CrmError> {
        match self {
            Reply::Records(records) => Ok(records),
            other => Err(super::unexpected(&other)),
        }
    }

    pub fn into_written(self) -> Result<Written, CrmError> {
        match self {
            Reply::Written(written) => Ok(written),
            other => Err(super::unexpected(&other)),
        }
    }
}

/// Who the request acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// The master user itself.
    Master,
    /// The master user impersonating the rep with this e-mail (`impersonate="email=…"`, G2).
    RepEmail(String),
    /// The master user impersonating the rep with this name (`impersonate="rep=…"`).
    RepName(String),
}

/// What a health check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// The user that logged in.
    pub user: String,
    /// Whether at least one rep is visible (the connector needs reps).
    pub reps_visible: bool,
}

/// Reads a rep (ID) record's connector flags.
pub fn rep_from_record(record: &Record) -> Rep {
    let flag = |name| record.text(name) == Some("true");
    Rep {
        id: record.id.clone(),
        rep_id: record.text("RepID").unwrap_or_default().to_owned(),
        name: record.text("Name").unwrap_or_default().to_owned(),
        email: record.text("E-mail1").map(str::to_owned),
        enable_connector: flag("EnableConnector"),
        sync_emails: flag("SyncEmails"),
        sync_appointments: flag("SyncAppointments"),
        sync_tasks: flag("SyncTasks"),
        sync_contacts: flag("SyncContacts"),
    }
}

/// What one e-mail address resolved to. More than one record in total means the address is ambiguous;
/// the transport never picks one.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EmailMatches {
    /// Reps with the address in `E-mail1`.
    pub reps: Vec<Record>,
    /// Persons (KP) with the address in `E-mail1`/`E-mail2` or in a TN row linked to them; each person
    /// once (by id), however many ways it was found.
    pub persons: Vec<Record>,
    /// Companies (FI) with the address in a TN row that belongs to the company only (no person).
    pub companies: Vec<Record>,
}

impl EmailMatches {
    fn push_person(&mut self, record: &Record) {
        push_once(&mut self.persons, record);
    }

    fn push_company(&mut self, record: &Record) {
        push_once(&mut self.companies, record);
    }
}

fn push_once(records: &mut Vec<Record>, record: &Record) {
    if !records.iter().any(|r| r.id == record.id) {
        let mut record = record.clone();
        record.children.clear();
        records.push(record);
    }
}

/// One value of a catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogValue {
    pub code: String,
    /// Language code → text.
    pub texts: IndexMap<String, String>,
    pub ext_key: Option<String>,
}

/// RFC 3339 UTC, second precision: the form of `Upd`/`Created` (G5).
pub fn format_timestamp(ts: jiff::Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Addresses per `<lop value="or">` group, to keep each query small.
const EMAILS_PER_QUERY: usize = 50;

/// What one command of [`resolve_email_commands`] looks up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum EmailLookup {
    /// `Rep.E-mail1`.
    Rep,
    /// `Person.E-mail1` / `Person.E-mail2`.
    Person,
    /// `TelNo.Number`, with the linked person and company nested in each TN row.
    TelNo,
}

/// The commands of [`super::CrmTransport::resolve_emails`]: per chunk of addresses one rep query, one
/// person query and one TN query (its rows with their person and company nested), all in one request.
/// Addresses with a `*` (a wildcard on the wire) are not queried.
pub(super) fn resolve_email_commands(addresses: &[String]) -> Vec<(EmailLookup, BatchCommand)> {
    let mut unique: Vec<&str> = Vec::new();
    for address in addresses {
        let address = address.trim();
        if !address.is_empty()
            && !address.contains('*')
            && !unique.iter().any(|u| same_address(u, address))
        {
            unique.push(address);
        }
    }
    let mut commands = Vec::new();
    for chunk in unique.chunks(EMAILS_PER_QUERY) {
        let reps = chunk
            .iter()
            .map(|a| Condition::eq(REP_TABLE, "E-mail1", *a))
            .collect();
        let query = Query::table(REP_TABLE)
            .fields(REP_FIELDS.iter().copied())
            .filter(Condition::Or(reps));
        commands.push((EmailLookup::Rep, BatchCommand::new(Command::Query(query))));
        let persons = chunk
            .iter()
            .flat_map(|a| {
                [
                    Condition::eq(PERSON_TABLE, "E-mail1", *a),
                    Condition::eq(PERSON_TABLE, "E-mail2", *a),
                ]
            })
            .collect();
        let query = Query::table(PERSON_TABLE)
            .fields(PERSON_FIELDS.iter().copied())
            .filter(Condition::Or(persons));
        commands.push((
            EmailLookup::Person,
            BatchCommand::new(Command::Query(query)),
        ));
        // TN rows of any kind: a phone number never equals an address, so `Kind` is not filtered on.
        let numbers = chunk
            .iter()
            .map(|a| Condition::eq(TEL_NO_TABLE, TEL_NO_NUMBER, *a))
            .collect();
        let query = Query::table(TEL_NO_TABLE)
            .fields(TEL_NO_FIELDS.iter().copied())
            .child(TableQuery::new(PERSON_TABLE).fields(PERSON_FIELDS.iter().copied()))
            .child(TableQuery::new(COMPANY_TABLE).fields(COMPANY_FIELDS.iter().copied()))
            .filter(Condition::Or(numbers));
        commands.push((EmailLookup::TelNo, BatchCommand::new(Command::Query(query))));
    }
    commands
}

/// Addresses compare trimmed and case-insensitively (like the CRM's text comparison, G5).
fn same_address(a: &str, b: &str) -> bool {
    a.trim().to_lowercase() == b.trim().to_lowercase()
}

/// A link field that points somewhere (neither empty nor 0).
fn link_set(record: &Record, field: &str) -> bool {
    record.text(field).is_some_and(|v| {
        let v = v.trim();
        !v.is_empty() && v.parse::<f64>() != Ok(0.0)
    })
}

pub(super) fn collect_email_matches(
    addresses: &[String],
    lookups: &[EmailLookup],
    results: Vec<Result<Reply, CrmError>>,
) -> Result<IndexMap<String, EmailMatches>, CrmError> {
    let mut out: IndexMap<String, EmailMatches> = IndexMap::new();
    for address in addresses {
        out.entry(address.trim().to_owned()).or_default();
    }
    // Direct matches first, so a person found both directly and through TN keeps its direct record's place.
    let mut replies: Vec<(EmailLookup, Vec<Record>)> = Vec::new();
    for (lookup, result) in lookups.iter().zip(results) {
        replies.push((*lookup, result?.into_records()?));
    }
    replies.sort_by_key(|(lookup, _)| *lookup == EmailLookup::TelNo);
    for (lookup, records) in &replies {
        for record in records {
            for (address, matches) in out.iter_mut() {
                let hit =
                    |field: &str| record.text(field).is_some_and(|e| same_address(e, address));
                match lookup {
                    EmailLookup::Rep if hit("E-mail1") => matches.reps.push(record.clone()),
                    EmailLookup::Person if hit("E-mail1") || hit("E-mail2") => {
                        matches.push_person(record);
                    }
                    EmailLookup::TelNo if hit(TEL_NO_NUMBER) => {
                        // A TN row of a person names its person; one without a person, its company.
                        let of_person = link_set(record, "PeGrp") || link_set(record, "PeNo");
                        let wanted = if of_person {
                            PERSON_TABLE
                        } else {
                            COMPANY_TABLE
                        };
                        for linked in record.children.iter().filter(|c| c.table == wanted) {
                            if of_person {
                                matches.push_person(linked);
                            } else {
                                matches.push_company(linked);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(out)
}

/// Why a text cannot travel in XML 1.0: the first forbidden character, if any (G14).
pub fn forbidden_xml_char(text: &str) -> Option<char> {
    text.chars().find(|c| {
        matches!(c, '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}')
    })
}

impl From<CrmErrorKind> for CrmError {
    fn from(kind: CrmErrorKind) -> Self {
        let message = kind.code().to_owned();
        CrmError::new(kind, message)
    }
}
