//! One resource mapping file (`mappings/event.yaml` …): Graph item ⇄ CRM record rules as written.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A resource mapping: how one kind of Graph item (event, message, To Do task, contact) maps to one CRM
/// table, in which direction, which items take part, and what happens on deletion.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MappingSpec {
    /// Resource name, used on the command line (`map event`) and by overlays: `event`, `message`,
    /// `task`, `contact` or `absence`.
    pub resource: String,
    /// CRM table the records live in, by its XML name (`Contact`, `Tasks`, `Person`, `Absences`).
    pub table: String,
    /// CRM groupware content type of the records (`text/x-vevent`, `application/x-mmRecord`,
    /// `text/x-mmTasks`, `text/x-mmPerson`, `text/x-mmAbsences`).
    pub content_type: String,
    /// forms.xml form type whose CRM field list a template declares (`vevent`, `mmRecord`, …). Rules and
    /// filters may only use fields of that list when a template declares it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form: Option<String>,
    /// Which way records flow: `graph_to_crm`, `crm_to_graph` or `both`.
    pub direction: Direction,
    /// Free text for administrators; not used by the connector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSONPath to the Graph item's all-day flag (`$.isAllDay`). All-day items get floating dates (the
    /// same calendar day in every time zone), no times, and durations in days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all_day: Option<String>,
    /// Every date of this resource is a calendar day, not an instant (To Do due and start dates): no
    /// time-zone conversion, as for all-day items.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub floating_dates: bool,
    /// Graph-side selection: which Graph items are synced at all (categories, sensitivity, folder, a
    /// resolved CRM person or participant), combined with `all`/`any`/`not`. Absent: every item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection: Option<Selection>,
    /// CRM-side filter: which CRM records are synced to Graph (forms.xml `SyncHandler` conditions), as
    /// `{field, op, value}` conditions nested in `all`/`any`/`not` groups. Absent: every record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<Filter>,
    /// Field rules, one per CRM field written.
    #[serde(default)]
    pub fields: Vec<Rule>,
    /// Named value maps (Graph value → CRM value) used by `catalog` converters.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub catalogs: IndexMap<String, Catalog>,
    /// How attendees / recipients are resolved against CRM reps and persons, and where unresolved ones go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participants: Option<Participants>,
    /// What a deletion on either side does.
    #[serde(default)]
    pub deletion: Deletion,
    /// The base template's CRM field list for `form` (forms.xml). A template overlay's `forms` entry
    /// replaces it. When a list is known, every CRM field used must be in it, and it must contain
    /// `StatNo` and `SeqNo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form_fields: Option<Vec<String>>,
    /// How the sync engine treats this resource: who wins a conflict, whether new items create records,
    /// adoption, the mass-delete guard, privacy. Every key is optional; an absent one keeps the
    /// resource's default (docs/sync-rules.md lists them).
    #[serde(default, skip_serializing_if = "SyncSpec::is_default")]
    pub sync: SyncSpec,
}

/// The sync engine's settings of one resource.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncSpec {
    /// Who wins when both sides changed since the last sync: `crm-wins`, `graph-wins`, `newest-wins` or
    /// `manual` (nothing overwritten; the item is reported as a conflict).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflict: Option<Conflict>,
    /// Per-field exceptions to `conflict`: CRM field → policy (e.g. `Text: graph-wins`).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub field_conflicts: IndexMap<String, Conflict>,
    /// Whether a new Graph item creates a CRM record (otherwise only edits of linked items flow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_from_graph: Option<bool>,
    /// Whether a new CRM record creates a Graph item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_in_graph: Option<bool>,
    /// Link an existing record (our XK row, the `iCalUId`/`internetMessageId`, an earlier connector's
    /// external key) instead of creating a second one (default `true`; `--no-adopt` turns it off once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adopt: Option<bool>,
    /// The mass-delete guard: a cycle stops deleting when it would delete or flag more than `share` of a
    /// mailbox's linked items and more than `min_count` items.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mass_delete: Option<MassDelete>,
    /// Private and confidential items: `normal` (synced with the privacy flag set, as the vendor does;
    /// the default) or `busy-only` (written as busy blocks without subject, body, location or
    /// attendees).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy: Option<Privacy>,
    /// The Graph properties a CRM edit may change on an item with attendees (the organizer's copy).
    /// Default: `subject`, `start`, `end`, `isAllDay`, `location`, `showAs`, `sensitivity`,
    /// `importance`, `isReminderOn`, `reminderMinutesBeforeStart` — not `body`: rewriting an
    /// organizer's body mails every attendee and can drop the online-meeting link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meeting_fields: Option<Vec<String>>,
    /// Whether a CRM edit may change a meeting with attendees outside the managed domains (Exchange then
    /// sends them an update). Default `false`: only `showAs`, `sensitivity`, `isReminderOn` and
    /// `reminderMinutesBeforeStart`, which notify nobody, are written to such meetings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_external_attendees: Option<bool>,
    /// Correspondence kept out (messages and events): addresses (`name@example.com`) and domains
    /// (`example.com` or `@example.com`, subdomains included). A new item with any participant matching
    /// (sender, recipients, organizer, attendees; the mailbox owner's own addresses aside) is not synced;
    /// items already linked keep syncing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// System-generated messages not filed as e-mails (resource `message` only): `meeting` (requests,
    /// responses, cancellations), `automatic_reply`, `delivery_report` (non-delivery, delivery and read
    /// reports). Default: all three; `[]` files them like any e-mail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_messages: Option<Vec<SystemMessage>>,
}

/// How private and confidential items are synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Privacy {
    /// Synced like any item, with the privacy flag set.
    Normal,
    /// Busy blocks only: no subject, body, location or attendees.
    BusyOnly,
}

/// A kind of system-generated message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SystemMessage {
    /// Meeting requests, responses and cancellations (`eventMessage`).
    Meeting,
    /// Out-of-office and rule-generated automatic replies.
    AutomaticReply,
    /// Non-delivery reports, delivery and read receipts.
    DeliveryReport,
}

impl SystemMessage {
    /// Every kind, the default of `skip_messages`.
    pub const ALL: [SystemMessage; 3] = [
        SystemMessage::Meeting,
        SystemMessage::AutomaticReply,
        SystemMessage::DeliveryReport,
    ];
}

impl SyncSpec {
    fn is_default(&self) -> bool {
        *self == SyncSpec::default()
    }
}

/// A conflict policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Conflict {
    /// The CRM's values are written to Graph.
    CrmWins,
    /// Graph's values are written to the CRM.
    GraphWins,
    /// The side changed last wins (equal or unknown times: the CRM).
    NewestWins,
    /// Nothing is overwritten: the item is quarantined and reported.
    Manual,
}

/// Mass-delete guard settings.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MassDelete {
    /// Largest share of linked items one cycle may delete or flag, above 0 and at most 1 (default 0.2).
    #[serde(default = "default_share")]
    pub share: f64,
    /// Deletes up to this count never trip the guard (default 5).
    #[serde(default = "default_min_count")]
    pub min_count: usize,
}

fn default_share() -> f64 {
    0.2
}

fn default_min_count() -> usize {
    5
}

/// Direction of a mapping or of one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Graph items are written to the CRM only.
    GraphToCrm,
    /// CRM records are written to Graph only.
    CrmToGraph,
    /// Both ways.
    Both,
}

/// A Graph-side selection criterion; exactly one key per entry.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Selection {
    /// Every criterion in the list must hold.
    All(Vec<Selection>),
    /// At least one criterion in the list must hold.
    Any(Vec<Selection>),
    /// The criterion must not hold.
    Not(Box<Selection>),
    /// The item carries this Outlook category (case-insensitive), e.g. `CRM`.
    Category(String),
    /// The item's `sensitivity` is one of these (`normal`, `personal`, `private`, `confidential`).
    Sensitivity(Vec<String>),
    /// The item lies in one of these folders: the well-known folder name given in the evaluation
    /// context (`inbox`, `sentitems`, …) or the item's `parentFolderId`.
    Folder(Vec<String>),
    /// `true`: at least one participant resolves to a CRM rep or person (`false`: none does). Reps count,
    /// so mail between colleagues matches; use `resolved_person` to select CRM contacts only.
    ResolvedParticipant(bool),
    /// `true`: at least one participant resolves to a CRM *person* (`false`: none does). Reps do not
    /// count, and neither does the mailbox owner.
    ResolvedPerson(bool),
    /// A property of the item has a value (`{path: $.isDraft, equals: true}`); a missing property is
    /// `null`.
    Property(PropertyCondition),
}

/// A Graph-side condition on one property.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PropertyCondition {
    /// JSONPath into the Graph item.
    pub path: String,
    /// The value it must have.
    pub equals: Value,
}

/// A CRM-side filter: a condition or a group of filters.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Filter {
    /// `all:`, `any:` or `not:`.
    Group(FilterGroup),
    /// `{field, op, value}`.
    Condition(Condition),
}

/// A group of filters.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum FilterGroup {
    /// Every filter in the list must hold.
    All(Vec<Filter>),
    /// At least one filter in the list must hold.
    Any(Vec<Filter>),
    /// The filter must not hold.
    Not(Box<Filter>),
}

/// One condition on a CRM field. A missing field compares as empty (`null`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// CRM field name (XML name), e.g. `ConnectorDeleted`.
    pub field: String,
    /// Comparison: `=`, `!=`, `<`, `>`, `<=`, `>=` or `contains` (case-insensitive substring).
    pub op: Op,
    /// Value compared with; numbers compare numerically, booleans as booleans, dates (`YYYY-MM-DD`)
    /// and other text as text.
    pub value: Value,
}

/// Comparison operator of a filter condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum Op {
    #[serde(rename = "=")]
    Eq,
    #[serde(rename = "!=")]
    Ne,
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = "contains")]
    Contains,
}

/// A field rule: how one CRM field is computed from the Graph item, and optionally how the CRM value is
/// written back to Graph.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// The CRM field written (XML name), e.g. `Subject`.
    pub crm: String,
    /// Where the value comes from: `{path: JSONPATH}`, `{template: MINIJINJA}` or `{const: VALUE}`.
    /// Required unless the rule's direction is `crm_to_graph`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Source>,
    /// Converters applied in order to the source value (`date`, `time`, `{truncate: 120}`, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub convert: Vec<Convert>,
    /// JSONPath into the Graph item; the rule applies only when that value is present and truthy
    /// (e.g. `$.isReminderOn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// Restricts the rule to one direction (default: the mapping's direction).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    /// How the CRM value is written to Graph (for `crm_to_graph` / `both`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverse: Option<Reverse>,
}

/// The source of a forward rule.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Source {
    /// JSONPath into the Graph item (`$.subject`, `$.start`, `$.attendees[*].emailAddress.address`).
    /// No match gives `null` (the field is left out); several matches give a list.
    Path(String),
    /// minijinja template rendering text; variables: `item` (the Graph item) and `ctx` (`tz`, `lang`,
    /// `now`, `mailbox`, `folder`).
    Template(String),
    /// A constant value.
    Const(Value),
}

/// A converter, applied to the value produced so far. Written as a bare name (`- date`) or a one-key
/// map (`- truncate: 120`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Convert {
    /// Graph `dateTimeTimeZone` (or date-time text) → date in the mailbox time zone (`YYYY-MM-DD`);
    /// all-day items keep their calendar date.
    Date,
    /// Like `date`, for an exclusive end: an all-day item ending at midnight gives the previous day (the
    /// last day it covers).
    EndDate,
    /// Graph `dateTimeTimeZone` (or date-time text) → time of day in the mailbox time zone (`HH:MM`);
    /// nothing for all-day items.
    Time,
    /// Length from the source (a `dateTimeTimeZone` start, or a number of minutes) to `end`, in `unit`.
    Duration(DurationOptions),
    /// The unit `duration` picks with the same options: `minutes`, `hours` or `days` (map it to CRM
    /// values with a `catalog`).
    DurationUnit(DurationOptions),
    /// Text `true`/`false`/`yes`/`no`/`1`/`0`, numbers and booleans → boolean; anything else is a warning.
    Boolean,
    /// HTML → plain text (Graph `itemBody` objects are handled: text bodies pass through).
    HtmlToText,
    /// Removes leading and trailing white space.
    Trim,
    /// Cuts text to at most N characters (the CRM field length), with a warning.
    Truncate(usize),
    /// Looks the value up in a named catalog of this mapping; unknown values give the catalog's default
    /// and a warning.
    Catalog(String),
    /// Looks the value up in an inline value map with an explicit default.
    Map(Catalog),
    /// Joins a list with this separator.
    Join(String),
    /// Uses this value when the value so far is missing (`null` or empty text).
    Default(Value),
}

/// Options of `duration` and `duration_unit`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DurationOptions {
    /// JSONPath to the end (`$.end`); without it the source is a number of minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    /// `minutes`, `hours`, `days` or `auto` (default): days for all-day items and whole days, hours for
    /// whole hours, else minutes.
    #[serde(default)]
    pub unit: DurationUnit,
}

/// Unit of a duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DurationUnit {
    Minutes,
    Hours,
    Days,
    #[default]
    Auto,
}

/// A value map: Graph value → CRM value, with an explicit default for values not listed.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// Graph value → CRM value (e.g. `oof: Out of office`).
    pub values: IndexMap<String, Value>,
    /// CRM value used for a Graph value not listed (with a warning); `null` leaves the field out.
    pub default: Value,
    /// Graph value written back for a CRM value not listed (reverse direction); absent: leave the Graph
    /// property out, with a warning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverse_default: Option<Value>,
    /// The CRM catalog's valid values, when known: every value and the default must be one of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crm_values: Option<Vec<Value>>,
}

/// How a CRM value is written to Graph.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Reverse {
    /// Graph property written, as a dotted path (`subject`, `body.content`, `start`).
    pub to: String,
    /// Source of the Graph value; default: this rule's CRM field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<ReverseSource>,
    /// Reverse converters applied in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub convert: Vec<ReverseConvert>,
}

/// The source of a reverse rule.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ReverseSource {
    /// A CRM field of the record.
    Field(String),
    /// minijinja template; variables: `record` (the CRM fields) and `ctx`.
    Template(String),
    /// A constant value.
    Const(Value),
    /// A Graph `dateTimeTimeZone` in the mailbox time zone from a CRM date and time field (no time:
    /// midnight, for an `end` the next midnight).
    DateTime(DateTimeFields),
}

/// The CRM fields holding a date and a time.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DateTimeFields {
    /// CRM date field (`Date`, `EndDate`).
    pub date: String,
    /// CRM time field (`Time`, `EndTime`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// `true` for an end: when the time is empty (an all-day record), Graph gets midnight of the day
    /// *after* the date, because Graph ends all-day events exclusively.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub end: bool,
}

/// A reverse converter.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ReverseConvert {
    /// CRM value → Graph value through the named catalog, read backwards (the first Graph value mapping
    /// to it).
    Catalog(String),
    /// Any CRM boolean spelling → JSON boolean.
    Boolean,
    /// Text → Graph `itemBody` `{contentType, content}` of this content type (`text` or `html`); with
    /// `html` the text is escaped and line breaks become `<br>`.
    Body(BodyType),
    /// Cuts text to at most N characters.
    Truncate(usize),
    /// Uses this value when the value so far is missing.
    Default(Value),
    /// Wraps the value in an object under this key (`{object: address}` → `{"address": …}`).
    Object(String),
    /// Wraps the value in a one-element list (for `emailAddresses`, `businessPhones`).
    List,
}

/// Graph `itemBody` content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BodyType {
    Text,
    Html,
}

/// Participant resolution: which attendees/recipients are looked up by e-mail among CRM reps and persons,
/// where resolved ones go, and where unresolved ones are reported.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Participants {
    /// Where participants come from, in order (duplicates by address are dropped).
    pub from: Vec<ParticipantSource>,
    /// JSONPath, relative to one participant, to its e-mail address.
    #[serde(default = "default_address")]
    pub address: String,
    /// JSONPath, relative to one participant, to its display name.
    #[serde(default = "default_name")]
    pub name: String,
    /// Leave out the mailbox owner (the context's `mailbox` address).
    #[serde(default = "yes")]
    pub skip_mailbox: bool,
    /// CRM fields that receive the resolved participants.
    #[serde(default)]
    pub resolved: Resolved,
    /// The missing-participants block for unresolved ones. Absent: unresolved participants are dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing: Option<Missing>,
    /// CRM field length, in characters, of the fields written here (`{ParticipantID: 2048, Participants:
    /// 4000, MissingParticipants: 4000}`). A longer value is cut at a whole entry (never inside an id,
    /// name or address), names and the missing-participants block end with a marker (texts `more`,
    /// `… and N more`), and a warning names the field. Fields not listed are not limited.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub max_length: IndexMap<String, usize>,
}

fn default_address() -> String {
    "$.emailAddress.address".into()
}
fn default_name() -> String {
    "$.emailAddress.name".into()
}
fn yes() -> bool {
    true
}

/// One source of participants.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ParticipantSource {
    /// JSONPath into the Graph item selecting participants (`$.attendees[*]`, `$.toRecipients[*]`).
    pub path: String,
    /// Fixed role of these participants (`required`, `optional`, `informational`, `unknown`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// JSONPath, relative to one participant, to its Graph attendee type: `required` → required,
    /// `optional` → optional, `resource` → informational, anything else → unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_path: Option<String>,
}

/// Role of a participant, which picks its label in the missing-participants block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Required,
    Optional,
    Informational,
    Unknown,
}

/// CRM fields that receive resolved participants (each optional).
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Resolved {
    /// Field receiving the id of the rep who owns the mailbox (the context's `mailbox`), e.g. `RepID`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mailbox_rep: Option<String>,
    /// Field receiving the rep ids, joined by `separator` (e.g. `ParticipantID`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rep_ids: Option<String>,
    /// Field receiving the names of all resolved participants, reps then persons (e.g. `Participants`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub names: Option<String>,
    /// Field receiving the person ids, joined by `separator`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_ids: Option<String>,
    /// CRM fields copied from the first resolved person's directory `fields` (e.g. `[CoGrp, CoNo,
    /// PeGrp, PeNo]`), linking the record to that person and company.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub link: Vec<String>,
    /// Separator between ids or names (default `; `).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub separator: Option<String>,
}

/// The missing-participants block.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Missing {
    /// `replace`: the block is the field's whole value; `append`: the block is added after the field's
    /// value from its own rule (e.g. `Text`), separated by a blank line.
    pub mode: MissingMode,
    /// CRM field receiving the block (`MissingParticipants` for replace, `Text` for append).
    pub field: String,
    /// Boolean CRM field set to `true` when anything is unresolved (`ConnectorMissingparticipants`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flag: Option<String>,
    /// Separator joining the addresses of one role on one line (e.g. `, `). Absent: one line per address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub separator: Option<String>,
    /// Texts per language (`en`, `de`, …); languages not listed fall back to `en`.
    pub texts: IndexMap<String, Texts>,
}

/// `replace` or `append`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MissingMode {
    Replace,
    Append,
}

/// The texts of the missing-participants block in one language.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Texts {
    /// First line of the block (en `Unassigned participants:`, de `Fehlende Teilnehmer:`).
    pub header: String,
    /// Label of required participants (`To: `).
    pub required: String,
    /// Label of optional participants (`CC: `).
    pub optional: String,
    /// Label of informational participants, Graph `resource` (`BCC: `).
    pub informational: String,
    /// Label of participants of any other type (`Unknown: ` / `Unbekannt: `).
    pub unknown: String,
    /// Last line when `max_length` cuts the list, `{n}` standing for the number left out. Default: en
    /// `… and {n} more`, de `… und {n} weitere` (other languages: the `en` text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub more: Option<String>,
}

/// What deletions do.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Deletion {
    /// On removal of the Graph item: `flag` (set `flag_field` to true; default) or `ignore`. The
    /// connector never deletes CRM records.
    #[serde(default)]
    pub on_graph_delete: OnGraphDelete,
    /// Boolean CRM field set by `flag` (default `ConnectorDeleted`).
    #[serde(default = "default_deleted")]
    pub flag_field: String,
    /// Whether deleting the CRM record deletes the Graph item (default `false`).
    #[serde(default)]
    pub propagate_crm_delete: bool,
}

impl Default for Deletion {
    fn default() -> Self {
        Deletion {
            on_graph_delete: OnGraphDelete::Flag,
            flag_field: default_deleted(),
            propagate_crm_delete: false,
        }
    }
}

fn default_deleted() -> String {
    "ConnectorDeleted".into()
}

/// `flag` or `ignore`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnGraphDelete {
    #[default]
    Flag,
    Ignore,
}
