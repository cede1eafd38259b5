//! Mapping test files (`mappings/*.test.yaml`): cases of input item, context and expected output.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The test cases of one resource mapping.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TestSuite {
    /// The resource under test (`event`, …).
    pub resource: String,
    /// Context shared by all cases (a case's own `context` keys win).
    #[serde(default)]
    pub context: TestContext,
    /// The cases.
    pub cases: Vec<TestCase>,
}

/// The evaluation context of a case: what the connector knows besides the item.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TestContext {
    /// Mailbox time zone, Windows (`W. Europe Standard Time`) or IANA (`Europe/Berlin`); default `UTC`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tz: Option<String>,
    /// Language of texts (`en`, `de`); default `en`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    /// "Now" as RFC 3339 (`2025-03-01T08:00:00Z`); default `2000-01-01T00:00:00Z`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub now: Option<String>,
    /// The mailbox owner's e-mail address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mailbox: Option<String>,
    /// Well-known name of the folder the item is in (`inbox`, `sentitems`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder: Option<String>,
    /// Known CRM participants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory: Option<DirectorySpec>,
}

/// Known CRM participants, as in a `--directory` file.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DirectorySpec {
    /// CRM reps (rep e-mail = mailbox address).
    #[serde(default)]
    pub reps: Vec<DirectoryEntry>,
    /// CRM persons.
    #[serde(default)]
    pub persons: Vec<DirectoryEntry>,
}

/// One known CRM participant.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DirectoryEntry {
    /// E-mail address (compared case-insensitively).
    pub email: String,
    /// CRM id (rep id such as `ANA`, or a person key).
    pub id: String,
    /// Display name.
    pub name: String,
    /// CRM key fields of the participant (`{CoGrp: 1, CoNo: 1, PeGrp: 1, PeNo: 4}`), copied to the
    /// record when the mapping links the first resolved person (`participants.resolved.link`).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub fields: IndexMap<String, Value>,
}

/// One test case.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TestCase {
    /// What the case shows; printed on failure.
    pub name: String,
    /// Template overlay to apply (`isi`); absent: base behaviour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// `true`: the input is a CRM record `{table, fields}` and the expectation a Graph body.
    #[serde(default)]
    pub reverse: bool,
    /// Context overrides for this case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<TestContext>,
    /// The input: a Graph item (or, reverse, a CRM record).
    pub input: Value,
    /// What must come out.
    pub expect: Expect,
}

/// Expected output. Only what is listed is compared.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Expected CRM fields and values (forward cases); other fields are not compared.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub fields: IndexMap<String, Value>,
    /// CRM fields that must not be written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub absent: Vec<String>,
    /// Expected Graph body properties (reverse cases), compared recursively: listed keys only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// Texts each expected warning contains, in order; when given, the number of warnings must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warnings: Option<Vec<String>>,
    /// Whether the item passes the Graph-side selection (forward) or CRM-side filter (reverse).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selected: Option<bool>,
}
