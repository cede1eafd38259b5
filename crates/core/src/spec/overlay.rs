//! A template overlay (`mappings/templates/NAME.yaml`): the CRM template's differences from the base, as data.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::mapping::{Deletion, Filter, MissingMode, Resolved, Rule, Selection, Texts};

/// A CRM template overlay: adds, renames, drops or overrides rules, filters, catalogs and texts of the
/// base resource files, and declares the template's CRM field list per form.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OverlaySpec {
    /// Template name; must equal the file name without `.yaml` (`isi`).
    pub template: String,
    /// Free text for administrators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// CRM field list per forms.xml form type (`vevent: [StatNo, SeqNo, …]`); replaces the base
    /// `form_fields`. Must contain `StatNo` and `SeqNo`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub forms: IndexMap<String, Vec<String>>,
    /// Changes per resource (`event`, `message`, …).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub resources: IndexMap<String, ResourceOverlay>,
}

/// The changes to one resource mapping. Applied in this order: drop, rename, override, add.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceOverlay {
    /// CRM fields whose base rules are removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drop: Vec<String>,
    /// Base CRM field → the field this template writes instead (the rule stays the same).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub rename: IndexMap<String, String>,
    /// Rules replacing the base rule of the same CRM field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub r#override: Vec<Rule>,
    /// New rules for fields the base does not write.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add: Vec<Rule>,
    /// CRM-side filter changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<FilterOverlay>,
    /// Replaces the Graph-side selection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection: Option<Selection>,
    /// Catalog changes: values are merged into the base catalog of that name (a new catalog needs a
    /// `default`).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub catalogs: IndexMap<String, CatalogOverlay>,
    /// Participant changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participants: Option<ParticipantsOverlay>,
    /// Replaces the deletion settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion: Option<Deletion>,
}

/// CRM-side filter changes.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FilterOverlay {
    /// Replaces the base filter (applied before `add`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replace: Option<Filter>,
    /// Filters that must hold as well (and-ed with the base filter).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add: Vec<Filter>,
}

/// Changes to one catalog.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CatalogOverlay {
    /// Graph value → CRM value, added to or replacing base entries.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub values: IndexMap<String, Value>,
    /// New default for unknown values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// New reverse default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverse_default: Option<Value>,
    /// The CRM catalog's valid values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crm_values: Option<Vec<Value>>,
}

/// Changes to participant handling.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ParticipantsOverlay {
    /// Replaces the fields receiving resolved participants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved: Option<Resolved>,
    /// Changes to the missing-participants block (it must exist in the base or set `mode` and `field`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing: Option<MissingOverlay>,
    /// CRM field lengths, merged into the base `max_length` (a field listed here replaces its base
    /// length).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub max_length: IndexMap<String, usize>,
}

/// Changes to the missing-participants block; each key replaces the base value.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MissingOverlay {
    /// `replace` or `append`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<MissingMode>,
    /// CRM field receiving the block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Boolean CRM flag field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flag: Option<String>,
    /// Separator joining addresses of one role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub separator: Option<String>,
    /// Texts per language, replacing the base texts of that language.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub texts: IndexMap<String, Texts>,
}
