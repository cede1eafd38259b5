//! Typed CRM field values and the mapped record.

use indexmap::IndexMap;
use jiff::civil::{Date, Time};
use serde::{Serialize, Serializer};
use serde_json::Value;

use super::time::format_time;

/// A CRM field value with its type. On the wire (and in `map` output): dates `YYYY-MM-DD`, times
/// `HH:MM`, booleans `true`/`false`.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    Text(String),
    Bool(bool),
    Int(i64),
    Number(f64),
    Date(Date),
    Time(Time),
}

impl FieldValue {
    /// The JSON form used in `map` output and test expectations.
    pub fn to_json(&self) -> Value {
        match self {
            FieldValue::Text(s) => Value::String(s.clone()),
            FieldValue::Bool(b) => Value::Bool(*b),
            FieldValue::Int(i) => Value::from(*i),
            FieldValue::Number(n) => Value::from(*n),
            FieldValue::Date(d) => Value::String(d.to_string()),
            FieldValue::Time(t) => Value::String(format_time(*t)),
        }
    }

    /// A JSON value as a field value (`None` for null); lists and objects become their JSON text.
    pub fn from_json(v: &Value) -> Option<FieldValue> {
        Some(match v {
            Value::Null => return None,
            Value::Bool(b) => FieldValue::Bool(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => FieldValue::Int(i),
                None => FieldValue::Number(n.as_f64().unwrap_or_default()),
            },
            Value::String(s) => FieldValue::Text(s.clone()),
            Value::Array(items) => FieldValue::Text(
                items
                    .iter()
                    .map(|i| match i {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            Value::Object(_) => FieldValue::Text(v.to_string()),
        })
    }
}

impl Serialize for FieldValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

/// A mapped CRM record: `{"table", "fields", "warnings"}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CrmRecord {
    pub table: String,
    pub fields: IndexMap<String, FieldValue>,
    pub warnings: Vec<String>,
}

impl CrmRecord {
    /// The fields as JSON values.
    pub fn json_fields(&self) -> IndexMap<String, Value> {
        self.fields
            .iter()
            .map(|(k, v)| (k.clone(), v.to_json()))
            .collect()
    }
}
