//! The validated, typed mapping model the engine runs on (no serde, no I/O).
//!
//! `crate::check` builds it from the raw specs after applying the template overlay, so every JSONPath here
//! parsed, every template compiled, every catalog a converter names exists and no two rules write one CRM
//! field. The engine can therefore evaluate without re-validating. Simple enums are shared with the spec.

use std::sync::Arc;

use indexmap::IndexMap;
use jsonpath_rust::parser::model::JpQuery;
use serde_json::Value;

pub use crate::spec::mapping::{
    BodyType, Conflict, Direction, DurationUnit, MassDelete, MissingMode, OnGraphDelete, Op,
    Privacy, Role, SyncSpec, Texts,
};

/// All resource mappings of one template (base files plus the overlay, if any).
#[derive(Debug, Clone)]
pub struct MappingSet {
    /// The overlay applied (`isi`), or `None` for base behaviour.
    pub template: Option<String>,
    /// Resource name → mapping, in file order.
    pub resources: IndexMap<String, Resource>,
    /// Compiled minijinja templates of all rules, by [`TemplateRef::name`].
    pub templates: Arc<minijinja::Environment<'static>>,
}

impl MappingSet {
    /// The mapping of a resource by name.
    pub fn resource(&self, name: &str) -> Option<&Resource> {
        self.resources.get(name)
    }
}

/// One resource mapping.
#[derive(Debug, Clone)]
pub struct Resource {
    pub name: String,
    pub table: String,
    pub content_type: String,
    pub form: Option<String>,
    pub direction: Direction,
    pub all_day: Option<JsonPath>,
    /// Every date is a calendar day (no time-zone conversion), as for all-day items.
    pub floating_dates: bool,
    pub selection: Option<Selection>,
    pub filter: Option<Filter>,
    pub rules: Vec<Rule>,
    pub catalogs: IndexMap<String, Catalog>,
    pub participants: Option<Participants>,
    pub deletion: Deletion,
    /// The template's CRM field list for `form`, when declared.
    pub form_fields: Option<Vec<String>>,
    /// The sync engine's settings (checked: fields in the form, shares in range).
    pub sync: SyncSpec,
}

/// A parsed JSONPath with its text (for messages).
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    pub text: String,
    pub query: JpQuery,
}

/// A compiled template, by its name in [`MappingSet::templates`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateRef {
    pub name: String,
}

/// A forward field rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub crm: String,
    /// `None` only for rules that run `crm_to_graph` only.
    pub source: Option<Source>,
    pub convert: Vec<Convert>,
    pub when: Option<JsonPath>,
    pub direction: Direction,
    pub reverse: Option<Reverse>,
}

impl Rule {
    /// Whether the rule writes CRM fields from Graph items.
    pub fn to_crm(&self) -> bool {
        matches!(self.direction, Direction::GraphToCrm | Direction::Both)
    }
    /// Whether the rule writes Graph properties from CRM records.
    pub fn to_graph(&self) -> bool {
        matches!(self.direction, Direction::CrmToGraph | Direction::Both)
    }
}

/// Where a forward value comes from.
#[derive(Debug, Clone)]
pub enum Source {
    Path(JsonPath),
    Template(TemplateRef),
    Const(Value),
}

/// A forward converter (see `spec::mapping::Convert` for the meaning of each).
#[derive(Debug, Clone)]
pub enum Convert {
    Date,
    EndDate,
    Time,
    Duration {
        end: Option<JsonPath>,
        unit: DurationUnit,
    },
    DurationUnit {
        end: Option<JsonPath>,
        unit: DurationUnit,
    },
    Boolean,
    HtmlToText,
    Trim,
    Truncate(usize),
    /// A catalog by name (exists in the resource's catalogs).
    Catalog(String),
    Map(Catalog),
    Join(String),
    Default(Value),
}

/// A value map with its default.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    pub values: IndexMap<String, Value>,
    pub default: Value,
    pub reverse_default: Option<Value>,
}

/// How a CRM value is written to Graph.
#[derive(Debug, Clone)]
pub struct Reverse {
    /// Graph property path segments (`["body", "content"]`).
    pub to: Vec<String>,
    pub source: ReverseSource,
    pub convert: Vec<ReverseConvert>,
}

/// Where a reverse value comes from.
#[derive(Debug, Clone)]
pub enum ReverseSource {
    Field(String),
    Template(TemplateRef),
    Const(Value),
    /// With `end`, an empty time means the (exclusive) midnight after the date.
    DateTime {
        date: String,
        time: Option<String>,
        end: bool,
    },
}

/// A reverse converter.
#[derive(Debug, Clone)]
pub enum ReverseConvert {
    Catalog(String),
    Boolean,
    Body(BodyType),
    Truncate(usize),
    Default(Value),
    Object(String),
    List,
}

/// Graph-side selection.
#[derive(Debug, Clone, PartialEq)]
pub enum Selection {
    All(Vec<Selection>),
    Any(Vec<Selection>),
    Not(Box<Selection>),
    Category(String),
    Sensitivity(Vec<String>),
    Folder(Vec<String>),
    ResolvedParticipant(bool),
    ResolvedPerson(bool),
    Property { path: JsonPath, equals: Value },
}

/// CRM-side filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    All(Vec<Filter>),
    Any(Vec<Filter>),
    Not(Box<Filter>),
    Condition { field: String, op: Op, value: Value },
}

/// Participant resolution.
#[derive(Debug, Clone)]
pub struct Participants {
    pub sources: Vec<ParticipantSource>,
    pub address: JsonPath,
    pub name: JsonPath,
    pub skip_mailbox: bool,
    pub resolved: Resolved,
    pub missing: Option<Missing>,
    /// CRM field → its length in characters; every key is a field written here.
    pub max_length: IndexMap<String, usize>,
}

/// One participant source.
#[derive(Debug, Clone)]
pub struct ParticipantSource {
    pub path: JsonPath,
    pub role: Option<Role>,
    pub role_path: Option<JsonPath>,
}

/// Target fields of resolved participants.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub mailbox_rep: Option<String>,
    pub rep_ids: Option<String>,
    pub names: Option<String>,
    pub person_ids: Option<String>,
    pub link: Vec<String>,
    pub separator: String,
}

/// The missing-participants block.
#[derive(Debug, Clone, PartialEq)]
pub struct Missing {
    pub mode: MissingMode,
    pub field: String,
    pub flag: Option<String>,
    pub separator: Option<String>,
    /// Language → texts; always contains `en`.
    pub texts: IndexMap<String, Texts>,
}

/// Deletion behaviour.
#[derive(Debug, Clone, PartialEq)]
pub struct Deletion {
    pub on_graph_delete: OnGraphDelete,
    pub flag_field: String,
    pub propagate_crm_delete: bool,
}
