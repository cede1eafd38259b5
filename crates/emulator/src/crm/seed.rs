//! The YAML seed of the CRM emulator: master user, logins, catalogs, template fields (the data model) and
//! the records it starts with. The format is documented in docs/crm-emulator.md; the built-in default seed
//! (`default-seed.yaml`) is the sandbox CRM every part of the project agrees on.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;

/// The built-in sandbox seed.
pub const DEFAULT_SEED: &str = include_str!("default-seed.yaml");

/// A CRM emulator seed: master user, logins, catalogs, template fields and the records the emulated
/// CRM starts with (format: docs/crm-emulator.md).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    /// Station number of this CRM (record ids are `station << 32 | serial`); 1..=9999.
    #[serde(default = "default_station")]
    pub station: u32,
    /// The technical user allowed to impersonate reps, and the client it must name.
    pub master: Master,
    /// Further logins (not allowed to impersonate).
    #[serde(default)]
    pub logins: Vec<Login>,
    /// Languages catalog texts exist in; the first is the fallback.
    #[serde(default = "default_languages")]
    pub languages: Vec<String>,
    pub catalogs: Vec<CatalogSeed>,
    /// Template fields: the info areas, their fields and links.
    pub tables: Vec<TableSeed>,
    /// Rows of the `Rep` table.
    #[serde(default)]
    pub reps: Vec<Row>,
    /// Rows of the `Company` table, each with its persons (`Person` rows linked to it).
    #[serde(default)]
    pub companies: Vec<CompanySeed>,
    /// Rows of any other table, by table name.
    #[serde(default)]
    pub records: IndexMap<String, Vec<Row>>,
}

fn default_station() -> u32 {
    1
}

fn default_languages() -> Vec<String> {
    vec!["en".to_owned(), "de".to_owned()]
}

/// The technical (master) user.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Master {
    /// Login name (`OCSU`).
    pub user: String,
    /// Password.
    pub password: String,
    /// The client name the master user must log in with (`GraphApi`).
    pub client: String,
    /// Default language of the session (`en`).
    #[serde(default = "default_language")]
    pub language: String,
}

fn default_language() -> String {
    "en".to_owned()
}

/// A further login.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    /// Login name.
    pub user: String,
    /// Password (default empty).
    #[serde(default)]
    pub password: String,
    /// The rep (RepID) this login acts as; writes carry that rep.
    #[serde(default)]
    pub rep: Option<String>,
    /// Read-only logins get `permission-denied` on every write.
    #[serde(default)]
    pub read_only: bool,
}

/// A catalog (value list) with its values.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CatalogSeed {
    /// Catalog name (`Contact`, `Priority`).
    pub name: String,
    /// Catalog number (part of the default external key `<station>_<number>_<code>`).
    pub number: u32,
    /// The catalog's values.
    pub values: Vec<CatalogValueSeed>,
}

/// One catalog value: its code, optional external key and its text per language (`en: Visit`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct CatalogValueSeed {
    /// Catalog code (unique in the catalog).
    pub code: u32,
    /// External key; default `<station>_<catalog number>_<code>`.
    #[serde(default)]
    pub extkey: Option<String>,
    /// Texts by language code (`en: Visit`, `de: Besuch`).
    #[serde(flatten)]
    pub texts: IndexMap<String, String>,
}

/// A table (info area) of the data model.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TableSeed {
    /// XML name (`Contact`).
    pub name: String,
    /// Info-area code (`MA`).
    pub short: String,
    /// Two number fields filled with station and serial on insert (`[StatNo, SeqNo]`); read-only after.
    #[serde(default)]
    pub key: Vec<String>,
    /// Who may write: `all` (default), `master` (the master user without impersonation) or `none`.
    #[serde(default)]
    pub write: WritePolicy,
    /// The table's fields.
    pub fields: Vec<FieldSeed>,
    /// Links to parent tables, used by nested queries and checked on write.
    #[serde(default)]
    pub links: Vec<LinkSeed>,
    /// Field sets no two live records may share (when all are set), e.g. `[[ExtSystem, ExtKey]]`.
    #[serde(default)]
    pub unique: Vec<Vec<String>>,
}

/// Who may write a table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WritePolicy {
    #[default]
    All,
    Master,
    None,
}

/// A field of a table.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldSeed {
    /// XML name (`Subject`).
    pub name: String,
    /// Value type.
    #[serde(rename = "type")]
    pub kind: FieldKind,
    /// Maximum length in characters (text fields); longer values are rejected with `invalid-value`.
    #[serde(default)]
    pub length: Option<usize>,
    /// Inserts without a value are rejected.
    #[serde(default)]
    pub required: bool,
    /// Catalog name, for `type: catalog`.
    #[serde(default)]
    pub catalog: Option<String>,
    /// Filled by the emulator, never written by a request.
    #[serde(default)]
    pub readonly: bool,
    /// For a text field: filled with the `Name` of the rep whose `RepID` is in the named field.
    #[serde(default)]
    pub rep_name_of: Option<String>,
}

/// The value type of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FieldKind {
    Text,
    Number,
    Bool,
    Date,
    Time,
    Catalog,
    /// A rep id (`RepID` of an existing Rep).
    Rep,
}

/// A link from a table to a parent table.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkSeed {
    /// Parent table name.
    pub parent: String,
    /// Child field → parent field; all must be equal (and set) for a link.
    pub fields: IndexMap<String, String>,
    /// Child field → parent field copied from the parent when the link is set on write.
    #[serde(default)]
    pub inherit: IndexMap<String, String>,
}

/// One record's field values.
pub type Row = IndexMap<String, Scalar>;

/// A YAML scalar as written in the seed.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Scalar {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

impl Scalar {
    pub fn to_text(&self) -> String {
        match self {
            Scalar::Bool(b) => b.to_string(),
            Scalar::Int(n) => n.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Str(s) => s.clone(),
        }
    }
}

/// A `Company` row (its field values) with its `persons`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct CompanySeed {
    /// `Person` rows of this company (their `CoGrp`/`CoNo` link is filled in).
    #[serde(default)]
    pub persons: Vec<Row>,
    #[serde(flatten)]
    pub fields: Row,
}

impl Seed {
    /// Parses seed YAML; `origin` names the file in messages.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Seed, String> {
        crate::seed_limits::check_expansion(text)
            .map_err(|e| format!("{origin}: invalid CRM emulator seed: {e}"))?;
        serde_saphyr::from_str(text)
            .map_err(|e| format!("{origin}: invalid CRM emulator seed: {e}"))
    }

    /// The built-in sandbox seed.
    pub fn default_seed() -> Seed {
        Self::from_yaml(DEFAULT_SEED, "built-in seed").expect("the built-in seed parses")
    }
}
